// The coordinator against the bus contract, with a stand-in node that is only a
// consumer on the node's subject: an assignment no node ever acks runs out of
// deliveries and the task is marked (attempt lost, task handed on), never dropped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../agent-node/gateway-client.js';
import { Coordinator } from '../../coordinator/coordinator.js';
import { startGrpcServer } from '../../coordinator/grpc/server.js';
import { openDatabase } from '../../coordinator/store/database.js';
import { Store } from '../../coordinator/store/store.js';
import { Assignment, NodeInfo } from '../../proto/gen/orch/v1/types.js';
import { LocalBus } from '../../runtime/bus/local.js';
import { ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS, subjects } from '../../runtime/bus/subjects.js';
import { defaultConfig, mergeConfig } from '../../runtime/config/index.js';
import { OrchPaths } from '../../runtime/paths.js';
import { startTestDatabase, type TestDatabase } from '../harness/postgres.js';
import { waitFor } from '../harness/wait.js';

/** The bus as it is during a long outage: every assignment publish fails (after its retries). */
class BusDown extends LocalBus {
  failing = 0;
  override async workQueue(name: string, subjects: string[]) {
    const q = await super.workQueue(name, subjects);
    const publish = q.publish.bind(q);
    q.publish = async (subject, data, opts) => {
      if (this.failing > 0) { this.failing -= 1; throw new Error('nats: timeout (bus unreachable)'); }
      return publish(subject, data, opts);
    };
    return q;
  }
}

describe('coordinator: a bus outage', () => {
  it('assignments that could not be published burn no attempts: the task waits, backing off, and runs once the bus is back', async () => {
    const tdb = await startTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'orch-coord-down-'));
    const db = await openDatabase({ url: tdb.url, dataDir: join(dir, 'pg') });
    const bus = new BusDown();
    const config = mergeConfig(defaultConfig(), { agents: { x: { kind: 'command', command: '/bin/true' } }, workflow: { max_attempts: 2, retry_delay_seconds: 0 } });
    const c = new Coordinator({ paths: new OrchPaths(dir), config, db, store: new Store(db.pool), bus, nodeTtlMs: 60_000 });
    try {
      await c.start();
      c.registry.register(NodeInfo.fromPartial({ name: 'n', slots: 1, agents: [{ name: 'x', kind: 'command', installed: true }], tools: ['git'], state: 'up' }));
      const queue = await bus.workQueue(ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS);
      const got: Assignment[] = [];
      const consumer = await queue.consume({ durable: subjects.assignConsumer('n'), filter: subjects.assign('n'), capacity: () => 1, onMessage: async (d) => { got.push(Assignment.decode(d.data)); await d.ack(); } });
      bus.failing = 3; // more failed publishes than max_attempts
      await c.store.addProject({ name: 'o/r', path: '', remote: 'file:///nowhere.git', defaultBranch: 'main' });
      const task = await c.store.createTask({ project: 'o/r', title: 'through an outage', body: '', labels: [], agent: 'x' });
      c.actor(task.id).tell({ op: 'route' });
      const a = await waitFor(() => got.find((x) => x.taskId === task.id), { timeoutMs: 30_000, what: 'the assignment once the bus is back' });
      const t = (await c.store.getTask(task.id))!;
      expect(t.status).toBe('in_progress');
      expect(a.attempt).toBe(4); // three never left the coordinator
      const attempts = await c.store.listAttempts(task.id);
      expect(attempts.slice(0, 3).map((x) => [x.state, x.errorMessage.replace(/:.*/, '')])).toEqual(Array(3).fill(['lost', 'assignment not published']));
      expect(t.spent).toBe(0); // none of them counted against max_attempts
      // They backed off (1 s, 2 s, 4 s) instead of spinning.
      const gaps = attempts.slice(1).map((x, i) => x.createdAt.getTime() - attempts[i].createdAt.getTime());
      expect(gaps[1]).toBeGreaterThanOrEqual(1_500);
      await consumer.stop();
    } finally {
      await c.stop();
      await bus.close();
      await db.close();
      await tdb.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('coordinator: assignments that no node takes', () => {
  let tdb: TestDatabase;
  let dir: string;
  let coordinator: Coordinator;
  let bus: LocalBus;
  let db: Awaited<ReturnType<typeof openDatabase>>;

  beforeAll(async () => {
    tdb = await startTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'orch-coord-bus-'));
    db = await openDatabase({ url: tdb.url, dataDir: join(dir, 'pg') });
    bus = new LocalBus();
    const config = mergeConfig(defaultConfig(), { agents: { x: { kind: 'command', command: '/bin/true' } }, workflow: { max_attempts: 2, retry_delay_seconds: 0 } });
    coordinator = new Coordinator({ paths: new OrchPaths(dir), config, db, store: new Store(db.pool), bus, nodeTtlMs: 60_000, assignTimeoutMs: 3_000 });
    await coordinator.start();
  }, 120_000);

  afterAll(async () => {
    await coordinator?.stop();
    await bus?.close();
    await db?.close();
    await tdb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks the attempt lost and hands the task on when its assignment exhausts its deliveries', async () => {
    const info = NodeInfo.fromPartial({ name: 'flaky', slots: 1, agents: [{ name: 'x', kind: 'command', installed: true }], tools: ['git'], state: 'up' });
    coordinator.registry.register(info);
    // The stand-in node takes every delivery and gives it back (as a node crashing before its ack would).
    const queue = await bus.workQueue(ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS);
    const seen: number[] = [];
    const consumer = await queue.consume({
      durable: subjects.assignConsumer('flaky'), filter: subjects.assign('flaky'), capacity: () => 1, maxDeliver: 3,
      onMessage: async (d) => { seen.push(Assignment.decode(d.data).taskId); await d.nak(10); },
    });
    await coordinator.store.addProject({ name: 'o/r', path: '', remote: 'file:///nowhere.git', defaultBranch: 'main' });
    const task = await coordinator.store.createTask({ project: 'o/r', title: 'never taken', body: '', labels: [], agent: 'x' });
    coordinator.actor(task.id).tell({ op: 'route' });

    // Two attempts (max_attempts 2), each delivered 3 times, then the task needs review with the reason.
    const final = await waitFor(async () => {
      const t = await coordinator.store.getTask(task.id);
      return t && t.status !== 'routed' && t.status !== 'in_progress' && t.status !== 'new' ? t : undefined;
    }, { timeoutMs: 20_000, what: 'the task to settle' });
    await consumer.stop();
    const attempts = await coordinator.store.listAttempts(task.id);
    expect(attempts.map((a) => a.state)).toEqual(['lost', 'lost']);
    expect(attempts[0].errorMessage).toMatch(/maximum deliveries/);
    expect(seen.filter((id) => id === task.id)).toHaveLength(6);
    expect(final.status).toBe('needs_review');
    const events = await coordinator.store.events(task.id);
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['requeued', 'attempts_exhausted']));
    expect(final.reason).toMatch(/attempt lost on flaky/);

    // `orch task retry` is a person deciding to try again: the attempt budget starts over.
    await coordinator.ask(task.id, { op: 'retry' });
    await waitFor(async () => (await coordinator.store.listAttempts(task.id)).length === 3, { timeoutMs: 20_000, what: 'a third attempt after the retry' });
  });

  it('an attempt no node ever starts is lost after the assignment timeout, and the task moves on', async () => {
    const info = NodeInfo.fromPartial({ name: 'silent', slots: 1, agents: [{ name: 'y', kind: 'command', installed: true }], tools: ['git'], state: 'up' });
    coordinator.registry.register(info);
    await coordinator.reloadConfig(mergeConfig(coordinator.config, { agents: { ...coordinator.config.agents, y: { kind: 'command', command: '/bin/true' } } }));
    // The stand-in node takes the assignment and never acks, naks or starts it (a wedged node).
    const queue = await bus.workQueue(ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS);
    const held: number[] = [];
    const consumer = await queue.consume({
      durable: subjects.assignConsumer('silent'), filter: subjects.assign('silent'), capacity: () => 1, ackWaitMs: 600_000,
      onMessage: (d) => { held.push(Assignment.decode(d.data).taskId); },
    });
    const task = await coordinator.store.createTask({ project: 'o/r', title: 'wedged', body: '', labels: [], agent: 'y' });
    coordinator.actor(task.id).tell({ op: 'route' });
    await waitFor(() => held.includes(task.id), { what: 'the assignment to be held' });
    const lost = await waitFor(async () => {
      const [a] = await coordinator.store.listAttempts(task.id);
      return a?.state === 'lost' ? a : undefined;
    }, { timeoutMs: 20_000, what: 'the first attempt to be declared lost' });
    expect(lost.errorMessage).toMatch(/no node started it within 3 s/);
    // The task was handed on (a second attempt), not left in_progress forever.
    const second = await waitFor(async () => (await coordinator.store.listAttempts(task.id))[1], { timeoutMs: 20_000, what: 'a second attempt' });
    await consumer.stop();

    // Output is taken only under the live attempt's token: a superseded node cannot keep writing.
    const server = await startGrpcServer(coordinator, '127.0.0.1:0', { version: 'test', mode: 'fleet', token: undefined });
    const gw = new GatewayClient(server.address);
    try {
      const chunk = (token: string, seq: number, offset: number, text: string) => ({ taskId: task.id, attempt: second.number, token, seq, offset, data: Buffer.from(text) });
      await expect(gw.upload([chunk(lost.token, 1, 0, 'from the lost attempt\n')])).rejects.toMatchObject({ code: 9, details: expect.stringMatching(/stale fencing token/) });
      expect(await gw.upload([chunk(second.token, 1, 0, 'live\n')])).toBe(5);
      await expect(gw.upload([chunk(second.token, 3, 5, 'b\n'), chunk(second.token, 2, 7, 'a\n')])).rejects.toMatchObject({ details: expect.stringMatching(/out of order/) });
      await expect(gw.upload([{ ...chunk(second.token, 1, 0, 'x'), attempt: 1 }])).rejects.toMatchObject({ details: expect.stringMatching(/not running/) });
      // A lease check (before a push) is refused for the lost attempt and granted to the live one.
      expect((await gw.checkLease({ taskId: task.id, attempt: 1, token: lost.token })).accepted).toBe(false);
      expect((await gw.checkLease({ taskId: task.id, attempt: second.number, token: second.token })).accepted).toBe(true);
    } finally {
      gw.close();
      await server.stop();
    }
  });
});

