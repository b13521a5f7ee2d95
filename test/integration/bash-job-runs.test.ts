// Bash job runs through the scheduler against the real store, on an injected clock, with
// in-process nodes (real BashJobRunners: git checkouts, bash) answering on the local bus:
// a run whose reply never came back (its coordinator restarted mid-run) blocks the job until
// past its timeout plus the grace, then counts as lost and the next due run fires; a node
// that cannot run a job (broken checkout, stopped) gives way to the next, up to MAX_NODES.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BashJobRunner, isBashJobWire } from '../../agent-node/bash-job.js';
import type { NodeSnapshot } from '../../coordinator/placement.js';
import { BashJobs, LOST_AFTER_MS, MAX_NODES } from '../../coordinator/scheduler/bash-jobs.js';
import { Scheduler } from '../../coordinator/scheduler/scheduler.js';
import { openDatabase, type Database } from '../../coordinator/store/database.js';
import { JobStore, type NewJob } from '../../coordinator/store/jobs.js';
import { Store } from '../../coordinator/store/store.js';
import { LocalBus } from '../../runtime/bus/local.js';
import { subjects } from '../../runtime/bus/subjects.js';
import { OrchPaths } from '../../runtime/paths.js';
import { makeRepo } from '../harness/orch.js';
import { startTestDatabase, type TestDatabase } from '../harness/postgres.js';

const PROJECT = 'local/demo';

describe('bash job runs across coordinator lives and nodes', () => {
  let tdb: TestDatabase;
  let db: Database;
  let store: Store;
  let jobs: JobStore;
  let bus: LocalBus;
  const dir = mkdtempSync(join(tmpdir(), 'orch-bash-runs-'));

  beforeAll(async () => {
    tdb = await startTestDatabase();
    db = await openDatabase({ url: tdb.url, dataDir: join(dir, 'pg') });
    store = new Store(db.pool);
    jobs = new JobStore(db.pool, store);
    bus = new LocalBus();
    const repo = await makeRepo(dir);
    await store.addProject({ name: PROJECT, path: '', remote: `file://${repo.origin}`, defaultBranch: 'main' });
  }, 120_000);

  afterAll(async () => {
    await bus?.close();
    await db?.close();
    await tdb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A node: its own ORCH_HOME and a BashJobRunner on its control subject, as agent-node/node.ts serves it. */
  async function startNode(name: string, o: { brokenMirror?: boolean; home?: string } = {}) {
    const paths = new OrchPaths(join(dir, o.home ?? name));
    if (o.brokenMirror) {
      // Something not a repository where the node keeps the project's mirror: its checkout fails.
      mkdirSync(dirname(paths.mirror(PROJECT)), { recursive: true });
      writeFileSync(paths.mirror(PROJECT), 'not a repository\n');
    }
    const runner = new BashJobRunner({ node: name, paths });
    const asked: string[] = [];
    const sub = await bus.serve(subjects.control(name), async (data) => {
      const req = JSON.parse(Buffer.from(data).toString('utf8')) as unknown;
      if (!isBashJobWire(req)) throw new Error('malformed bash_job request');
      asked.push(req.run);
      return Buffer.from(JSON.stringify(await runner.run(req)));
    });
    return { name, runner, asked, stop: () => sub.unsubscribe() };
  }

  const up = (name: string): NodeSnapshot => ({ name, state: 'up', slots: 2, inFlight: 0, agents: [], tools: ['git'] });

  /** One life of a coordinator: its scheduler and bash-job runner on the shared store and clock. */
  function coordinator(clock: { now: Date }, o: { nodes: NodeSnapshot[]; lostAfterMs?: number; neverAnswered?: boolean; fleetSettlesAt?: number }) {
    const bash = new BashJobs({
      fleetSettlesAt: () => o.fleetSettlesAt ?? 0,
      jobs, project: (n) => store.getProject(n), requiredTools: () => ['git'], snapshots: () => o.nodes, now: () => clock.now,
      // A life that dies mid-run: the request went out, no reply ever comes back to it.
      request: o.neverAnswered ? () => new Promise<Uint8Array>(() => undefined)
        : (node, body, timeoutMs) => bus.request(subjects.control(node), body, { timeoutMs }),
      lostAfterMs: () => o.lostAfterMs,
    });
    const scheduler = new Scheduler({ jobs, now: () => clock.now, taskOpen: async () => false, created: () => undefined, runBash: (j, at) => bash.fire(j, at) });
    return { bash, scheduler };
  }

  async function addJob(id: string, over: Partial<NewJob> & { createdAt: string }): Promise<void> {
    const { createdAt, ...rest } = over;
    await jobs.upsert({ id, project: PROJECT, schedule: '* * * * *', timezone: 'UTC', type: 'bash', title: '', body: '', labels: [], command: 'echo "ran on $ORCH_NODE"', enabled: true, source: 'cli', ...rest });
    await db.pool.query('update jobs set created_at = $2 where id = $1', [id, createdAt]);
  }

  it('a run whose reply never came back blocks the job until past its timeout + grace, then is lost and the next due run fires', async () => {
    await addJob('probe', { timeoutSeconds: 60, createdAt: '2026-06-01T09:59:30Z' });
    const n1 = await startNode('n1');
    const clock = { now: new Date('2026-06-01T10:00:01Z') };

    // The first life fires the 10:00 run and is gone before its reply.
    const first = coordinator(clock, { nodes: [up('n1')], neverAnswered: true });
    expect(await first.scheduler.tick()).toEqual([expect.objectContaining({ job: 'probe', note: 'bash run started' })]);
    expect((await jobs.runs('probe')).map((r) => [r.scheduledAt.toISOString(), r.outcome, r.firedAt.toISOString()]))
      .toEqual([['2026-06-01T10:00:00.000Z', 'running', '2026-06-01T10:00:01.000Z']]);

    // The next life: the run may still go on (fired 10:00:01, 60 s timeout, 120 s grace: until 10:03:01), so due runs are skipped.
    const next = coordinator(clock, { nodes: [up('n1')] });
    for (const at of ['10:01:00.200', '10:02:00.200', '10:03:00.200']) {
      clock.now = new Date(`2026-06-01T${at}Z`);
      const [f] = await next.scheduler.tick();
      expect(f).toMatchObject({ job: 'probe', skipped: 'its previous run is still running' });
    }
    expect(n1.asked).toEqual([]);
    expect((await jobs.get('probe'))!.lastOutcome).toBe('skipped: its previous run is still running');

    // Past it: the 10:00 run is lost, and the 10:04 run fires and runs on the node.
    clock.now = new Date('2026-06-01T10:04:00.200Z');
    expect(await next.scheduler.tick()).toEqual([expect.objectContaining({ job: 'probe', note: 'bash run started' })]);
    await next.bash.settled();
    const runs = await jobs.runs('probe');
    expect(runs.map((r) => [r.scheduledAt.toISOString().slice(11, 16), r.outcome])).toEqual([
      ['10:04', 'succeeded'],
      ['10:03', 'skipped: its previous run is still running'],
      ['10:02', 'skipped: its previous run is still running'],
      ['10:01', 'skipped: its previous run is still running'],
      ['10:00', 'lost: no result came back (its coordinator stopped?)'],
    ]);
    expect(runs[0]).toMatchObject({ node: 'n1', exitCode: 0, output: 'ran on n1\n' });
    expect(runs[4]).toMatchObject({ node: '', exitCode: null, finishedAt: new Date('2026-06-01T10:04:00.200Z') });
    expect(n1.asked).toEqual(['2026-06-01T10:04:00.000Z']);
    expect(LOST_AFTER_MS).toBe(120_000); // the default the times above are built on
    await jobs.setEnabled('probe', false);
    await n1.stop();
  });

  it('the grace is the coordinator\'s to set: with 10 s, a 60 s run is lost 70 s after it fired', async () => {
    await addJob('quick', { schedule: '*/10 * * * * *', timeoutSeconds: 60, createdAt: '2026-06-01T23:59:59Z' });
    const n1 = await startNode('n1');
    const clock = { now: new Date('2026-06-02T00:00:00.100Z') };
    await coordinator(clock, { nodes: [up('n1')], neverAnswered: true }).scheduler.tick();
    const next = coordinator(clock, { nodes: [up('n1')], lostAfterMs: 10_000 });
    clock.now = new Date('2026-06-02T00:01:10.000Z'); // 69.9 s after it fired
    expect((await next.scheduler.tick())[0]).toMatchObject({ skipped: 'its previous run is still running' });
    clock.now = new Date('2026-06-02T00:01:20.000Z');
    expect((await next.scheduler.tick())[0]).toMatchObject({ note: 'bash run started' });
    await next.bash.settled();
    expect((await jobs.runs('quick')).map((r) => r.outcome)).toEqual(['succeeded', 'skipped: its previous run is still running', expect.stringMatching(/^lost: /)]);
    await jobs.setEnabled('quick', false);
    await n1.stop();
  });

  it('a node whose checkout fails, or that is stopped before the coordinator knows, gives way to the next live node, up to MAX_NODES', async () => {
    await addJob('spread', { createdAt: '2026-06-03T00:00:00Z', timeoutSeconds: 30 });
    // Least loaded first, then by name: a, b, c, d. a cannot check out; b is stopped (still "up" to the coordinator).
    const a = await startNode('a', { brokenMirror: true });
    const c = await startNode('c');
    const d = await startNode('d');
    const nodes = ['a', 'b', 'c', 'd'].map(up);
    const clock = { now: new Date('2026-06-03T00:01:00.100Z') };
    const life = coordinator(clock, { nodes });
    await life.scheduler.tick();
    await life.bash.settled();
    const [ran] = await jobs.runs('spread');
    expect(ran).toMatchObject({ outcome: 'succeeded', node: 'c', exitCode: 0, output: 'ran on c\n' });
    expect(a.asked).toEqual(['2026-06-03T00:01:00.000Z']);
    expect(d.asked).toEqual([]);

    // c stops too: a, b and c are the MAX_NODES tried; d, fourth, is not asked, and the run says why it failed.
    expect(MAX_NODES).toBe(3);
    await c.stop();
    clock.now = new Date('2026-06-03T00:02:00.100Z');
    await life.scheduler.tick();
    await life.bash.settled();
    const [failed] = await jobs.runs('spread');
    expect(failed.outcome).toBe(`failed: node c: no responders on ${subjects.control('c')}`);
    expect(failed.node).toBe('');
    expect(a.asked).toHaveLength(2);
    expect(d.asked).toEqual([]);
    expect(existsSync(d.runner.checkout(PROJECT, 'spread'))).toBe(false);

    // The last node tried answers that it cannot run it: the run ends there, with its reason.
    const c2 = await startNode('c', { brokenMirror: true, home: 'c-broken' });
    clock.now = new Date('2026-06-03T00:03:00.100Z');
    await life.scheduler.tick();
    await life.bash.settled();
    const [refused] = await jobs.runs('spread');
    expect(refused.node).toBe('c');
    expect(refused.outcome).toMatch(/^failed: could not check out main of local\/demo: /);
    await Promise.all([a.stop(), c2.stop(), d.stop()]);
  });

  it('a run due right after the coordinator starts waits for the nodes to register, rather than failing for want of one', async () => {
    await addJob('early', { createdAt: '2026-06-04T00:00:00Z', timeoutSeconds: 30 });
    const n1 = await startNode('n1');
    const nodes: NodeSnapshot[] = [];
    const clock = { now: new Date('2026-06-04T00:01:00.100Z') };
    const life = coordinator(clock, { nodes, fleetSettlesAt: Date.now() + 60_000 });
    await life.scheduler.tick();
    expect((await jobs.runs('early'))[0].outcome).toBe('running'); // no node yet: it waits
    nodes.push(up('n1')); // n1 registers
    await life.bash.settled();
    expect((await jobs.runs('early'))[0]).toMatchObject({ outcome: 'succeeded', node: 'n1' });
    // Once the fleet has settled, no node means the run fails at once, saying why.
    const settled = coordinator(clock, { nodes: [], fleetSettlesAt: Date.now() - 1 });
    clock.now = new Date('2026-06-04T00:02:00.100Z');
    await settled.scheduler.tick();
    await settled.bash.settled();
    expect((await jobs.runs('early'))[0].outcome).toBe('failed: no live node can run it');
    await jobs.setEnabled('early', false);
    await n1.stop();
  });
});
