// The task store against a real PostgreSQL: migrations, the embedded server's persistence,
// transitions with their history, fencing of stale attempts, and races between writers.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskToProto } from '../../coordinator/store/convert.js';
import { openDatabase } from '../../coordinator/store/database.js';
import { loadMigrations, migrate, migrationsDir } from '../../coordinator/store/migrate.js';
import { FencedError, NotFoundError, ProjectInUseError, StaleTransitionError, Store, type TaskRow } from '../../coordinator/store/store.js';
import { startTestDatabase, type TestDatabase } from '../harness/postgres.js';

let db: TestDatabase;
let pool: pg.Pool;
let store: Store;

beforeAll(async () => {
  db = await startTestDatabase();
  pool = new pg.Pool({ connectionString: db.url });
  await migrate(pool);
  store = new Store(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.stop();
});

const PROJECT = { name: 'acme/widgets', path: '/src/widgets', remote: 'https://example.test/acme/widgets.git', defaultBranch: 'main' };

async function routedTask(title = 'fix the widget'): Promise<TaskRow> {
  await store.addProject(PROJECT);
  const t = await store.createTask({ project: PROJECT.name, title, body: 'it wobbles', labels: ['bug'] });
  return (await store.transition(t.id, 'new', 'routed', { event: 'routed', patch: { agent: 'claude', model: 'sonnet', branch: `orch/${t.id}` } })).task;
}

describe('migrations', () => {
  it('are found both from the sources and from the compiled dist/ tree', () => {
    const dir = migrationsDir();
    expect(dir.endsWith(join('coordinator', 'store', 'migrations'))).toBe(true);
    expect(migrationsDir(join(dir, '..', '..', '..', 'dist', 'coordinator', 'store'))).toBe(dir);
  });

  it('apply once, and running them again changes nothing', async () => {
    const fresh = await startTestDatabase();
    const p = new pg.Pool({ connectionString: fresh.url });
    try {
      const all = await loadMigrations();
      expect(all[0].name).toBe('001_init');
      expect(await migrate(p)).toEqual(all.map((m) => m.name));
      expect(await migrate(p)).toEqual([]);
      const rows = (await p.query('select version, name from schema_migrations order by version')).rows;
      expect(rows).toEqual(all.map((m) => ({ version: m.version, name: m.name })));
    } finally {
      await p.end();
      await fresh.stop();
    }
  });

  it('are applied exactly once when several coordinators start together', async () => {
    const fresh = await startTestDatabase();
    const pools = [1, 2, 3, 4].map(() => new pg.Pool({ connectionString: fresh.url }));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p)));
      const all = (await loadMigrations()).map((m) => m.name);
      expect(applied.flat().sort()).toEqual(all);
      expect((await pools[0]!.query('select count(*)::int as n from schema_migrations')).rows[0].n).toBe(all.length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await fresh.stop();
    }
  });
});

describe('openDatabase', () => {
  it('keeps the embedded store across close and reopen, and never logs its password', async () => {
    const home = mkdtempSync(join(tmpdir(), 'orch-store-'));
    const dataDir = join(home, 'pg', 'data');
    const logs: string[] = [];
    try {
      let t0 = Date.now();
      const first = await openDatabase({ dataDir, log: (m) => logs.push(m) });
      const firstMs = Date.now() - t0;
      expect(first.description).toBe(`embedded (${dataDir})`);
      await new Store(first.pool).addProject(PROJECT);
      t0 = Date.now();
      await first.close();
      const closeMs = Date.now() - t0;
      await first.close(); // idempotent

      t0 = Date.now();
      const second = await openDatabase({ dataDir, log: (m) => logs.push(m) });
      const reopenMs = Date.now() - t0;
      try {
        expect((await new Store(second.pool).listProjects()).map((p) => p.name)).toEqual([PROJECT.name]);
        const migrations = await second.pool.query('select count(*)::int as n from schema_migrations');
        expect(migrations.rows[0].n).toBe((await loadMigrations()).length);
      } finally {
        await second.close();
      }
      console.log(`embedded PostgreSQL: first open (initdb + start + migrate) ${firstMs} ms, close ${closeMs} ms, reopen ${reopenMs} ms`);

      const passwordFile = join(home, 'pg', 'password');
      expect(statSync(passwordFile).mode & 0o777).toBe(0o600);
      const password = readFileSync(passwordFile, 'utf8').trim();
      expect(password.length).toBeGreaterThan(20);
      expect(logs.join('\n')).not.toContain(password);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('says in one line which server it cannot reach, without the credentials', async () => {
    const err = await openDatabase({ url: 'postgres://orch:sekrit@127.0.0.1:1/orchdb', dataDir: '/nonexistent' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^cannot connect to PostgreSQL at 127\.0\.0\.1:1\/orchdb: \S/);
    expect((err as Error).message).not.toContain('sekrit');
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('tasks', () => {
  it('are created new with a "created" event, and a transition records its event', async () => {
    await store.addProject(PROJECT);
    const t = await store.createTask({ project: PROJECT.name, title: 'add a knob', body: 'turns', labels: ['feature'] });
    expect(t).toMatchObject({ status: 'new', attempts: 0, labels: ['feature'], memory: [], filesChanged: [] });

    const { task, attempt } = await store.transition(t.id, 'new', 'routed', {
      event: 'routed', detail: 'claude/sonnet (simple)', patch: { agent: 'claude', model: 'sonnet', complexity: 'simple', memory: [{ attempt: 0 }] },
    });
    expect(attempt).toBeUndefined();
    expect(task).toMatchObject({ status: 'routed', agent: 'claude', model: 'sonnet', complexity: 'simple', memory: [{ attempt: 0 }] });
    expect(task.updatedAt.getTime()).toBeGreaterThanOrEqual(t.updatedAt.getTime());
    expect(await store.getTask(t.id)).toEqual(task);

    const events = await store.events(t.id);
    expect(events.map((e) => [e.fromStatus, e.toStatus, e.event, e.detail])).toEqual([
      [null, 'new', 'created', ''],
      ['new', 'routed', 'routed', 'claude/sonnet (simple)'],
    ]);
    expect(taskToProto(task, [], events).events[1]).toMatchObject({ fromStatus: 'new', toStatus: 'routed', event: 'routed' });
    expect((await store.listTasks({ status: 'routed', project: PROJECT.name })).map((x) => x.id)).toContain(t.id);
    expect((await store.tasksInStatus(['new'])).map((x) => x.id)).not.toContain(t.id);
  });

  it('cannot be created for an unknown project', async () => {
    await expect(store.createTask({ project: 'nobody/nothing', title: 'x', body: '', labels: [] })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a stale transition, naming the status the task is actually in', async () => {
    const t = await routedTask();
    const err = await store.transition(t.id, 'new', 'routed', { event: 'routed' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleTransitionError);
    expect(err).toMatchObject({ taskId: t.id, expected: 'new', actual: 'routed' });
    expect((await store.events(t.id)).map((e) => e.event)).toEqual(['created', 'routed']);
    await expect(store.transition(999_999, 'new', 'routed', { event: 'routed' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('counts attempts: starting one numbers it and increments the task', async () => {
    const t = await routedTask();
    const first = await store.transition(t.id, 'routed', 'in_progress', {
      event: 'dispatched', newAttempt: { token: `tok-${t.id}-1`, node: 'n1', agent: 'claude', model: 'sonnet' },
    });
    expect(first.task.attempts).toBe(1);
    expect(first.attempt).toMatchObject({ taskId: t.id, number: 1, state: 'assigned', node: 'n1', exitCode: null, result: null });

    // The attempt fails and a retry starts the next one, in the same transaction.
    const second = await store.transition(t.id, 'in_progress', 'in_progress', {
      event: 'retried',
      attemptUpdate: { number: 1, token: `tok-${t.id}-1`, patch: { state: 'failed', exitCode: 2, finishedAt: new Date(), inputTokens: 1200, costUsd: 0.25, result: { commit: '' } } },
      newAttempt: { token: `tok-${t.id}-2`, node: 'n2', agent: 'claude', model: 'sonnet' },
    });
    expect(second.task.attempts).toBe(2);
    expect(second.attempt).toMatchObject({ number: 2, node: 'n2' });
    const attempts = await store.listAttempts(t.id);
    expect(attempts.map((a) => [a.number, a.state, a.exitCode, a.inputTokens, a.costUsd])).toEqual([[1, 'failed', 2, 1200, 0.25], [2, 'assigned', null, 0, 0]]);
    expect((await store.attemptsInState(['assigned'])).map((a) => a.token)).toContain(`tok-${t.id}-2`);
    expect(taskToProto(second.task, attempts).node).toBe('n2');
  });

  it('fences off a report that carries another token, changing nothing', async () => {
    const t = await routedTask();
    const token = `tok-${t.id}`;
    await store.transition(t.id, 'routed', 'in_progress', { event: 'dispatched', newAttempt: { token, node: 'n1', agent: 'claude', model: 'sonnet' } });

    await expect(store.updateAttempt(t.id, 1, 'someone-else', { state: 'running' })).rejects.toBeInstanceOf(FencedError);
    await expect(store.transition(t.id, 'in_progress', 'done', {
      event: 'answered', attemptUpdate: { number: 1, token: 'someone-else', patch: { state: 'succeeded' } },
    })).rejects.toBeInstanceOf(FencedError);
    expect((await store.getTask(t.id))?.status).toBe('in_progress');
    expect((await store.events(t.id)).map((e) => e.event)).toEqual(['created', 'routed', 'dispatched']);
    expect((await store.getAttempt(t.id, 1))?.state).toBe('assigned');

    const running = await store.updateAttempt(t.id, 1, token, { state: 'running', startedAt: new Date(), session: 'orch-1' });
    expect(running).toMatchObject({ state: 'running', session: 'orch-1' });
  });

  it('lets exactly one of several concurrent transitions of a task win', async () => {
    const t = await routedTask();
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.transition(t.id, 'routed', 'in_progress', {
      event: 'dispatched', detail: `racer ${i}`, newAttempt: { token: `race-${t.id}-${i}`, node: `n${i}`, agent: 'claude', model: 'sonnet' },
    })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    for (const r of lost) expect(r.reason).toMatchObject({ name: 'StaleTransitionError', actual: 'in_progress' });
    expect((await store.getTask(t.id))?.attempts).toBe(1);
    expect(await store.listAttempts(t.id)).toHaveLength(1);
    expect((await store.events(t.id)).filter((e) => e.event === 'dispatched')).toHaveLength(1);
  });
});

describe('projects', () => {
  it('are upserted by name', async () => {
    await store.addProject({ ...PROJECT, name: 'acme/gears' });
    const p = await store.addProject({ ...PROJECT, name: 'acme/gears', defaultBranch: 'trunk' });
    expect(p).toMatchObject({ name: 'acme/gears', defaultBranch: 'trunk' });
    expect((await store.listProjects()).filter((x) => x.name === 'acme/gears')).toHaveLength(1);
  });

  it('cannot be removed while they have unfinished tasks', async () => {
    const name = 'acme/sprockets';
    await store.addProject({ ...PROJECT, name });
    const t = await store.createTask({ project: name, title: 'polish', body: '', labels: [] });
    const err = await store.removeProject(name).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProjectInUseError);
    expect((err as Error).message).toContain(`#${t.id} new`);
    expect(await store.getProject(name)).toBeDefined();

    await store.transition(t.id, 'new', 'done', { event: 'closed', patch: { summary: 'not needed' } });
    expect((await store.removeProject(name)).name).toBe(name);
    expect(await store.getProject(name)).toBeUndefined();
    expect(await store.getTask(t.id)).toBeUndefined();
    await expect(store.removeProject(name)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('nodes', () => {
  it('keep the latest snapshot each node reported', async () => {
    await store.upsertNode('n1', { slots: 2, labels: ['gpu'] });
    await store.upsertNode('n1', { slots: 4, labels: [] });
    const n1 = (await store.listNodes()).find((n) => n.name === 'n1');
    expect(n1?.info).toEqual({ slots: 4, labels: [] });
    expect(n1?.lastSeen).toBeInstanceOf(Date);
  });
});
