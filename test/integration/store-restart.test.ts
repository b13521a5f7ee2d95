// The store across a PostgreSQL restart: a transaction in flight when the server goes
// away fails with an error (the connection's 'error' event is heard, not fatal to the
// process), and the store works again once the server is back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../coordinator/store/database.js';
import { Store } from '../../coordinator/store/store.js';
import { startPostgresServer } from '../harness/postgres.js';
import { waitFor } from '../harness/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'orch-store-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('store across a PostgreSQL restart', () => {
  it('a transaction cut by the restart fails cleanly, and the next one works', async () => {
    const pg = await startPostgresServer();
    const db = await openDatabase({ url: await pg.createDatabase(), dataDir: join(dir, 'pg') });
    const store = new Store(db.pool);
    try {
      await store.addProject({ name: 'o/r', path: '', remote: 'file:///x.git', defaultBranch: 'main' });
      let inside!: () => void;
      const entered = new Promise<void>((r) => { inside = r; });
      // A transaction that is open (its connection checked out of the pool) while the server restarts.
      const cut = store.transaction(async (c) => {
        await c.query(`insert into tasks (project, title, status) values ('o/r', 'half-made', 'new')`);
        inside();
        await new Promise((r) => setTimeout(r, 4_000));
        await c.query('select 1');
      });
      await entered;
      await pg.restart(500);
      await expect(cut).rejects.toThrow(/terminat|connection|shut/i);
      // Back: the pool makes new connections; nothing of the cut transaction was kept.
      const t = await waitFor(() => store.createTask({ project: 'o/r', title: 'after the restart', body: '', labels: [] }).catch(() => undefined),
        { timeoutMs: 20_000, what: 'the store to work again' });
      expect((await store.listTasks()).map((x) => x.title)).toEqual([t.title]);
    } finally {
      await db.close();
      await pg.stop();
    }
  }, 60_000);
});
