// Output goes from a node's output.log to the coordinator's copy exactly once, even
// when uploads fail midway or the uploader restarts from its persisted progress. The
// node side is the real OutputUploader and GatewayClient; the other end is the real
// coordinator's NodeGateway over gRPC, for an attempt the coordinator really assigned
// (registered node, routed task, assignment from the bus, reported start).
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../agent-node/gateway-client.js';
import { OutputUploader } from '../../agent-node/uploader.js';
import { Coordinator } from '../../coordinator/coordinator.js';
import { startGrpcServer, type GrpcServer } from '../../coordinator/grpc/server.js';
import { openDatabase } from '../../coordinator/store/database.js';
import { Store } from '../../coordinator/store/store.js';
import type { OutputChunk } from '../../proto/gen/orch/v1/node.js';
import { Assignment, NodeInfo } from '../../proto/gen/orch/v1/types.js';
import type { Consumer } from '../../runtime/bus/bus.js';
import { LocalBus } from '../../runtime/bus/local.js';
import { ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS, subjects } from '../../runtime/bus/subjects.js';
import { defaultConfig, mergeConfig } from '../../runtime/config/index.js';
import { OrchPaths } from '../../runtime/paths.js';
import { registerSecret } from '../../runtime/redact.js';
import { startTestDatabase, type TestDatabase } from '../harness/postgres.js';
import { waitFor } from '../harness/wait.js';

const TOKEN = 'upload-test-cluster-token-0123';
const NODE = 'uploader-node';

describe('output upload through the coordinator\'s NodeGateway', () => {
  let tdb: TestDatabase;
  let dir: string;
  let db: Awaited<ReturnType<typeof openDatabase>>;
  let bus: LocalBus;
  let coordinator: Coordinator;
  let server: GrpcServer;
  let gateway: GatewayClient;
  let consumer: Consumer;
  const assignments: Assignment[] = [];

  beforeAll(async () => {
    tdb = await startTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'orch-upload-'));
    db = await openDatabase({ url: tdb.url, dataDir: join(dir, 'pg') });
    bus = new LocalBus();
    const config = mergeConfig(defaultConfig(), { agents: { x: { kind: 'command', command: '/bin/true' } } });
    coordinator = new Coordinator({ paths: new OrchPaths(join(dir, 'coord')), config, db, store: new Store(db.pool), bus, nodeTtlMs: 3_600_000 });
    await coordinator.start();
    server = await startGrpcServer(coordinator, '127.0.0.1:0', { version: 'test', mode: 'fleet', token: TOKEN });
    gateway = new GatewayClient(server.address, TOKEN);
    // The node: registered over gRPC, taking its assignments from the bus like a real node.
    await gateway.register({ node: NodeInfo.fromPartial({ name: NODE, slots: 8, agents: [{ name: 'x', kind: 'command', installed: true }], tools: ['git'], state: 'up' }), held: [] });
    const queue = await bus.workQueue(ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS);
    consumer = await queue.consume({
      durable: subjects.assignConsumer(NODE), filter: subjects.assign(NODE), capacity: () => 8,
      onMessage: async (d) => { assignments.push(Assignment.decode(d.data)); await d.ack(); },
    });
    await coordinator.store.addProject({ name: 'o/r', path: '', remote: 'file:///nowhere.git', defaultBranch: 'main' });
  }, 120_000);

  afterAll(async () => {
    gateway?.close();
    await consumer?.stop();
    await server?.stop();
    await coordinator?.stop();
    await bus?.close();
    await db?.close();
    await tdb?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A task the coordinator routes and assigns to our node, reported started: its attempt may upload output. */
  async function runningAttempt(title: string): Promise<Assignment> {
    const task = await coordinator.store.createTask({ project: 'o/r', title, body: '', labels: [], agent: 'x' });
    coordinator.actor(task.id).tell({ op: 'route' });
    const a = await waitFor(() => assignments.find((x) => x.taskId === task.id), { timeoutMs: 20_000, what: `the assignment of task ${task.id}` });
    const ack = await gateway.reportStarted({ taskId: a.taskId, attempt: a.attempt, token: a.token, node: NODE, session: `s-${a.taskId}`, dir, worktree: dir });
    expect(ack.accepted, ack.reason).toBe(true);
    return a;
  }

  function files(name: string) {
    const file = join(dir, `${name}.log`);
    writeFileSync(file, '');
    return { file, state: join(dir, `${name}.upload.json`) };
  }

  /** The coordinator's copy of an attempt's output (what `orch stream` and `orch task output` serve). */
  const held = (a: Assignment) => readFileSync(new OrchPaths(join(dir, 'coord')).outputLog(a.taskId, a.attempt), 'utf8');

  /** The real gRPC upload, with the network failing before a call reaches the server or after it was applied. */
  function flakySend(fault: (call: number) => 'ok' | 'fail-before' | 'fail-after') {
    let calls = 0;
    return async (chunks: OutputChunk[]): Promise<number> => {
      const f = fault(++calls);
      if (f === 'fail-before') throw new Error('connection reset');
      const next = await gateway.upload(chunks);
      if (f === 'fail-after') throw new Error('connection reset after the server took it');
      return next;
    };
  }

  it('delivers every byte once through failures before and after the server applied a chunk', async () => {
    const a = await runningAttempt('through failures');
    const { file, state } = files('failures');
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(i % 97)}\n`);
    const send = flakySend((call) => (call % 3 === 1 ? 'fail-after' : call % 5 === 2 ? 'fail-before' : 'ok'));
    const up = new OutputUploader({ file, stateFile: state, taskId: a.taskId, attempt: a.attempt, token: a.token, send });
    up.start();
    for (let i = 0; i < lines.length; i += 100) appendFileSync(file, lines.slice(i, i + 100).join(''));
    expect(await up.finish(20_000)).toBe(true);
    expect(held(a)).toBe(lines.join(''));
  });

  it('a restarted uploader resumes from its persisted progress without doubling', async () => {
    const a = await runningAttempt('restarted uploader');
    const { file, state } = files('restart');
    const send = flakySend(() => 'ok');
    appendFileSync(file, 'first line\nsecond line\n');
    const first = new OutputUploader({ file, stateFile: state, taskId: a.taskId, attempt: a.attempt, token: a.token, send });
    await first.flush(false);
    first.stop();
    appendFileSync(file, 'third line\npartial');
    const second = new OutputUploader({ file, stateFile: state, taskId: a.taskId, attempt: a.attempt, token: a.token, send });
    expect(await second.finish(5_000)).toBe(true);
    expect(held(a)).toBe('first line\nsecond line\nthird line\npartial');
  });

  it('a gap is not written: the uploader learns what the coordinator holds and resends from there', async () => {
    const a = await runningAttempt('gap');
    const { file, state } = files('gap');
    appendFileSync(file, 'one\ntwo\n');
    // A stale progress file claims 4 bytes were confirmed that the coordinator never got.
    writeFileSync(state, JSON.stringify({ raw: 4, sent: 4, seq: 1 }));
    const up = new OutputUploader({ file, stateFile: state, taskId: a.taskId, attempt: a.attempt, token: a.token, send: (c) => gateway.upload(c) });
    expect(await up.finish(5_000)).toBe(true);
    expect(held(a)).toBe('one\ntwo\n');
  });

  it('redacts secrets before output leaves the node', async () => {
    const a = await runningAttempt('secrets');
    const { file, state } = files('secrets');
    registerSecret('super-secret-value-42');
    appendFileSync(file, 'token=super-secret-value-42 and ghp_abcdefghijklmnopqrstuvwxyz0123456789\n');
    const up = new OutputUploader({ file, stateFile: state, taskId: a.taskId, attempt: a.attempt, token: a.token, send: (c) => gateway.upload(c) });
    expect(await up.finish(5_000)).toBe(true);
    expect(held(a)).toBe('token=[REDACTED] and [REDACTED]\n');
  });

  it('refuses an upload without the cluster token', async () => {
    const a = await runningAttempt('no token');
    const stranger = new GatewayClient(server.address, 'wrong-token-wrong-token');
    try {
      await expect(stranger.upload([{ taskId: a.taskId, attempt: a.attempt, token: a.token, seq: 1, offset: 0, data: Buffer.from('x\n') }])).rejects.toThrow(/token/i);
    } finally {
      stranger.close();
    }
  });

  it('fans out to followers in order', async () => {
    const hub = coordinator.hub;
    const seen: string[] = [];
    const stop = hub.subscribe(999_004, (e) => { seen.push(Buffer.from(e.data).toString()); });
    await hub.append(999_004, 1, 0, Buffer.from('ab'));
    await hub.append(999_004, 1, 1, Buffer.from('bc')); // overlap: only "c" is new
    await expect(hub.append(999_004, 1, 10, Buffer.from('zz'))).rejects.toThrow(/gap/);
    hub.finish(999_004, 1);
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual(['ab', 'c', '']);
    stop();
  });
});
