// The scheduler against the real store, on an injected clock: a due job creates one task
// labelled scheduled + job:<id>; it never overlaps itself; two coordinators ticking at the
// same time fire each run once; a restart catches up a missed run once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scheduler } from '../../coordinator/scheduler/scheduler.js';
import { openDatabase, type Database } from '../../coordinator/store/database.js';
import { JobStore } from '../../coordinator/store/jobs.js';
import { Store } from '../../coordinator/store/store.js';
import { startTestDatabase, type TestDatabase } from '../harness/postgres.js';

describe('job scheduler', () => {
  let tdb: TestDatabase;
  let db: Database;
  let store: Store;
  let jobs: JobStore;
  const dir = mkdtempSync(join(tmpdir(), 'orch-sched-'));

  beforeAll(async () => {
    tdb = await startTestDatabase();
    db = await openDatabase({ url: tdb.url, dataDir: join(dir, 'pg') });
    store = new Store(db.pool);
    jobs = new JobStore(db.pool, store);
    await store.addProject({ name: 'o/r', path: '', remote: 'file:///nowhere.git', defaultBranch: 'main' });
  }, 120_000);

  afterAll(async () => {
    await db?.close();
    await tdb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function scheduler(clock: { now: Date }, created: number[] = []) {
    return new Scheduler({
      jobs, now: () => clock.now, created: (t) => created.push(t.id),
      taskOpen: async (id) => (await store.getTask(id))?.status !== 'done',
    });
  }

  it('fires a due task job once, labelled; skips a run while the previous task is open; fires again once it is done', async () => {
    await jobs.upsert({ id: 'hourly', project: 'o/r', schedule: '0 * * * *', timezone: 'UTC', type: 'task', title: 'Hourly check', body: 'look', labels: ['ops'], command: '', enabled: true, source: 'cli' });
    await db.pool.query(`update jobs set created_at = '2026-06-01T09:30:00Z' where id = 'hourly'`);
    const clock = { now: new Date('2026-06-01T10:00:05Z') };
    const created: number[] = [];
    const s = scheduler(clock, created);
    const [first] = await s.tick();
    expect(first).toMatchObject({ job: 'hourly', scheduledAt: new Date('2026-06-01T10:00:00Z') });
    const task = (await store.getTask(first.taskId!))!;
    expect(task.labels.sort()).toEqual(['job:hourly', 'ops', 'scheduled']);
    expect([task.title, task.body, task.status]).toEqual(['Hourly check', 'look', 'new']);
    expect(created).toEqual([task.id]);
    expect(await s.tick()).toEqual([]); // `orch job tick` again: nothing new is due

    clock.now = new Date('2026-06-01T11:00:01Z'); // the 10:00 task is still open
    const [skipped] = await s.tick();
    expect(skipped.skipped).toMatch(/previous run .* still open/);
    expect(created).toHaveLength(1);

    await db.pool.query(`update tasks set status = 'done' where id = $1`, [task.id]);
    clock.now = new Date('2026-06-01T12:00:02Z');
    const [again] = await s.tick();
    expect(again.taskId).toBeGreaterThan(task.id);
    expect((await jobs.runs('hourly')).map((r) => r.outcome)).toEqual(['fired', expect.stringMatching(/^skipped/), 'fired']);
  });

  it('two coordinators ticking at the same moment fire each run once', async () => {
    await jobs.upsert({ id: 'race', project: 'o/r', schedule: '*/5 * * * *', timezone: '', type: 'task', title: 'Race', body: '', labels: [], command: '', enabled: true, source: 'cli' });
    await db.pool.query(`update jobs set created_at = '2026-06-01T00:00:00Z' where id = 'race'`);
    const clock = { now: new Date('2026-06-01T00:05:00.500Z') };
    const a: number[] = [];
    const b: number[] = [];
    const results = await Promise.all([scheduler(clock, a).tick(), scheduler(clock, b).tick(), scheduler(clock, a).tick()]);
    const fired = results.flat().filter((f) => f.job === 'race' && f.taskId);
    expect(fired).toHaveLength(1);
    expect([...a, ...b]).toHaveLength(1);
    const tasks = (await store.listTasks()).filter((t) => t.labels.includes('job:race'));
    expect(tasks).toHaveLength(1);
  });

  it('a disabled job does not fire; enabled again, it fires its next run', async () => {
    await jobs.upsert({ id: 'off', project: 'o/r', schedule: '0 0 * * *', timezone: 'UTC', type: 'task', title: 'Nightly', body: '', labels: [], command: '', enabled: false, source: 'cli' });
    await db.pool.query(`update jobs set created_at = '2026-05-01T00:00:00Z' where id = 'off'`);
    const clock = { now: new Date('2026-06-02T00:00:03Z') };
    expect((await scheduler(clock).tick()).filter((f) => f.job === 'off')).toEqual([]);
    await jobs.setEnabled('off', true);
    expect((await scheduler(clock).tick()).filter((f) => f.job === 'off').map((f) => f.scheduledAt.toISOString())).toEqual(['2026-06-02T00:00:00.000Z']);
  });
});
