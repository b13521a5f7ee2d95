// The embedded PostgreSQL after things went wrong: a server killed outright, a stale or
// recycled postmaster.pid, a server left running by an orch that was killed, and a second
// orch pointed at a store that is in use.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../coordinator/store/database.js';
import { EmbeddedPostgres } from '../../coordinator/store/embedded.js';
import { Store } from '../../coordinator/store/store.js';

let home: string;
let dataDir: string;
let logs: string[];
const log = (m: string) => { logs.push(m); };

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'orch-pg-recovery-'));
  dataDir = join(home, 'pg', 'data');
  logs = [];
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

const PROJECT = { name: 'acme/widgets', path: '', remote: 'https://example.test/acme/widgets.git', defaultBranch: 'main' };

function postmasterPid(): number {
  return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): number {
  return Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
}

describe('embedded PostgreSQL', () => {
  it('comes back with its data after the server was killed outright', async () => {
    const first = await openDatabase({ dataDir, log });
    await new Store(first.pool).addProject(PROJECT);
    process.kill(postmasterPid(), 'SIGKILL');
    await first.close(); // must not hang on a dead server

    const second = await openDatabase({ dataDir, log });
    try {
      expect((await new Store(second.pool).listProjects()).map((p) => p.name)).toEqual([PROJECT.name]);
    } finally {
      await second.close();
    }
  });

  it('starts despite a postmaster.pid whose process is gone or is now something else', async () => {
    await (await openDatabase({ dataDir, log, ephemeral: true })).close();
    for (const stalePid of [deadPid(), process.pid]) {
      writeFileSync(join(dataDir, 'postmaster.pid'), `${stalePid}\n${dataDir}\n1700000000\n5432\n\n127.0.0.1\n  1234  5678\nready   \n`);
      const db = await openDatabase({ dataDir, log, ephemeral: true });
      await db.close();
    }
    expect(logs.filter((m) => m.includes('stale postmaster.pid'))).toHaveLength(2);
  });

  it('stops a server left running by an orch that was killed, then starts its own', async () => {
    const orphan = await EmbeddedPostgres.start({ dataDir, log, ephemeral: true });
    // Pretend the orch that started it is gone.
    writeFileSync(join(home, 'pg', 'postgres.owner'), `${deadPid()} ${orphan.pid}\n`);
    const db = await openDatabase({ dataDir, log, ephemeral: true });
    try {
      expect(logs.some((m) => m.includes(`left running by an orch that was killed`))).toBe(true);
      expect(() => process.kill(orphan.pid, 0)).toThrow();
      await new Store(db.pool).addProject(PROJECT);
    } finally {
      await db.close();
    }
  });

  it('refuses a store that a live orch is using', async () => {
    const db = await openDatabase({ dataDir, log, ephemeral: true });
    try {
      const err = await openDatabase({ dataDir, log }).catch((e: Error) => e);
      expect((err as Error).message).toMatch(/already in use by process \d+/);
      await db.pool.query('select 1'); // the first one is unharmed
    } finally {
      await db.close();
    }
  });

  it('keeps its files private to orch (and, as root, the cluster to the server user)', async () => {
    const db = await openDatabase({ dataDir, log });
    await db.close();
    expect(statSync(join(home, 'pg', 'password')).mode & 0o077).toBe(0);
    expect(statSync(join(home, 'pg', 'postgres.log')).mode & 0o077).toBe(0);
    expect(statSync(dataDir).mode & 0o077).toBe(0);
    if (process.getuid?.() === 0) expect(statSync(dataDir).uid).not.toBe(0);
  });
});
