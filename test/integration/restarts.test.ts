// The fleet survives its own restarts (issue 6), with real processes: nats-server,
// PostgreSQL, a coordinator and a standby, `orch node start` processes, tmux and git.
// Each test reproduces a failure seen before: a coordinator restart that stranded work,
// a frozen node whose agent ran on while its task re-ran elsewhere, a stopping node that
// kept receiving work, and a leader whose death stopped the fleet.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, instantAgent, type FleetNode } from '../harness/fleet.js';
import { natsServerAvailable } from '../harness/nats-server.js';
import { makeRepo } from '../harness/orch.js';
import { startPostgresServer, type PostgresServer } from '../harness/postgres.js';
import { waitFor } from '../harness/wait.js';

interface Attempt { number: number; node: string; state: string; dir: string; error_message: string }
interface TaskJson { id: number; status: string; attempts: number; node: string; reason: string; attempt_history: Attempt[] }
interface NodeJson { name: string; state: string; running: number; drain_reason: string }

const available = natsServerAvailable();
if (!available) console.warn('\n*** SKIPPING restart tests: nats-server is not installed (apt-get install nats-server) ***\n');

interface Run { node: string; task: number; attempt: number; kind: string; at: number }
function runs(file: string): Run[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [node, task, attempt, kind, at] = l.split(' ');
    return { node, task: Number(task), attempt: Number(attempt), kind, at: Number(BigInt(at) / 1_000_000n) };
  });
}

describe.skipIf(!available)('the fleet survives its own restarts', () => {
  let fleet: Fleet;
  let runsFile: string;
  const gates: Record<string, string> = {};

  beforeAll(async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'orch-restarts-'));
    runsFile = join(scratch, 'runs.txt');
    const agents: string[] = ['agents:', `  instant:\n    kind: command\n    command: ${instantAgent(scratch, runsFile, 0.2)}`];
    for (const g of ['g1', 'g2', 'g3', 'g4', 'g5']) {
      gates[g] = join(scratch, `gate-${g}`);
      agents.push(`  ${g}:\n    kind: command\n    command: ${instantAgent(scratch, runsFile, 0, `${g}.sh`, gates[g])}`);
    }
    fleet = new Fleet({
      // Agents are configured on the nodes only: the coordinator routes from what they report.
      nodes: 2, slots: 2, nodeTtlSeconds: 3, databaseServer: true, standby: true, agentsOnNodesOnly: true, agentsYaml: agents.join('\n'),
      clusterYaml: ['restart_grace_seconds: 30', 'failover_seconds: 3'],
    });
    await fleet.start();
    const repo = await makeRepo(fleet.coordinator.dir);
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    expect(add.code, add.stderr).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await fleet?.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  const env = () => fleet.cliEnv();
  const addTask = async (title: string, agent: string) => (await fleet.coordinator.json<TaskJson>(['task', 'add', title, '--agent', agent], { env: env() })).id;
  const task = (id: number) => fleet.coordinator.json<TaskJson>(['task', 'get', String(id)], { env: env() });
  const nodes = () => fleet.coordinator.json<NodeJson[]>(['node', 'list'], { env: env() });
  const running = (id: number) => waitFor(async () => {
    const t = await task(id);
    return t.attempt_history.at(-1)?.state === 'running' ? t : undefined;
  }, { timeoutMs: 30_000, what: `task ${id} to run` });
  const done = (id: number, timeoutMs = 60_000) => waitFor(async () => {
    const t = await task(id);
    if (t.status === 'needs_review' || t.status === 'blocked') throw new Error(`task ${id} ended ${t.status}: ${t.reason}`);
    return t.status === 'done' ? t : undefined;
  }, { timeoutMs, intervalMs: 250, what: `task ${id} to be done` });
  const nodeOf = (name: string): FleetNode => fleet.nodes.find((n) => n.name === name)!;

  it('a coordinator restarted (SIGTERM, then kill -9) while a task runs: nodes register again, the result is accepted, new work is placed', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const gate = signal === 'SIGTERM' ? gates.g1 : gates.g2;
      const id = await addTask(`Across a coordinator ${signal}`, signal === 'SIGTERM' ? 'g1' : 'g2');
      await running(id);
      await fleet.restartCoordinator(signal);
      // Longer than the node TTL and the fence: a restarted coordinator that ignored the nodes would have lost them by now.
      await new Promise((r) => setTimeout(r, 9_000));
      const ns = await nodes();
      expect(ns.map((n) => [n.name, n.state])).toEqual([['node1', 'up'], ['node2', 'up']]);
      // A task added after the restart is placed and finishes.
      const after = await addTask(`After a coordinator ${signal}`, 'instant');
      await done(after, 30_000);
      writeFileSync(gate, 'open\n');
      const t = await done(id);
      expect(t.attempt_history.map((a) => a.state)).toEqual(['succeeded']);
      expect(runs(runsFile).filter((r) => r.task === id && r.kind === 'start')).toHaveLength(1);
    }
  }, 180_000);

  it('a node frozen past its timeout: its agent stops itself before the task runs elsewhere; thawed, the node registers again with the right count', async () => {
    const id = await addTask('On a node that freezes', 'g3');
    const first = await running(id);
    const frozen = nodeOf(first.node);
    frozen.proc.kill('SIGSTOP');
    try {
      // The attempt is lost (after TTL + fence) and the task runs again on the other node.
      const moved = await waitFor(async () => {
        const t = await task(id);
        return t.attempt_history.length >= 2 && t.attempt_history[1].state === 'running' ? t : undefined;
      }, { timeoutMs: 40_000, intervalMs: 250, what: 'the task to run on another node' });
      expect(moved.attempt_history[0].state).toBe('lost');
      expect(moved.attempt_history[1].node).not.toBe(frozen.name);
      // The frozen node's agent stopped itself (its lease ran out) before the second run began.
      const firstDir = first.attempt_history[0].dir;
      expect(existsSync(join(firstDir, 'lease-expired'))).toBe(true);
      const secondStart = runs(runsFile).find((r) => r.task === id && r.attempt === 2 && r.kind === 'start')!;
      expect(statSync(join(firstDir, 'lease-expired')).mtimeMs).toBeLessThan(secondStart.at);
    } finally {
      frozen.proc.kill('SIGCONT');
    }
    // Back: it registers again, holds nothing, and takes work again.
    await waitFor(async () => (await nodes()).some((n) => n.name === frozen.name && n.state === 'up' && n.running === 0),
      { timeoutMs: 30_000, what: 'the thawed node to be up with nothing running' });
    writeFileSync(gates.g3, 'open\n');
    const t = await done(id);
    expect(t.attempt_history.map((a) => a.state)).toEqual(['lost', 'succeeded']);
    expect(runs(runsFile).filter((r) => r.task === id && r.kind === 'end')).toHaveLength(1);
  }, 150_000);

  it('a node stopped with SIGTERM says so and gets no new work; restarted, it finishes what it ran', async () => {
    const id = await addTask('On a node that restarts', 'g4');
    const first = await running(id);
    const node = nodeOf(first.node);
    const other = fleet.nodes.find((n) => n !== node)!;
    await node.home.stop(node.proc, 'SIGTERM');
    const st = await waitFor(async () => (await nodes()).find((n) => n.name === node.name && n.state === 'stopping'), { what: 'the node to show as stopping' });
    expect(st.running).toBe(1);
    const meanwhile = await addTask('While a node is away', 'instant');
    expect((await done(meanwhile, 30_000)).attempt_history[0].node).toBe(other.name);
    await fleet.restartNode(node);
    await waitFor(async () => (await nodes()).some((n) => n.name === node.name && n.state === 'up'), { timeoutMs: 30_000, what: 'the node to be back' });
    writeFileSync(gates.g4, 'open\n');
    const t = await done(id);
    expect(t.attempt_history.map((a) => [a.state, a.node])).toEqual([['succeeded', node.name]]);
  }, 120_000);

  it('orch node drain: no new work there, its running attempt finishes; resume takes work again', async () => {
    const id = await addTask('On a node about to be drained', 'g5');
    const first = await running(id);
    const drained = first.node;
    const d = await fleet.coordinator.run(['node', 'drain', drained, '--reason', 'maintenance'], { env: env() });
    expect(d.code, d.stderr).toBe(0);
    const listed = (await nodes()).find((n) => n.name === drained)!;
    expect([listed.state, listed.drain_reason]).toEqual(['draining', 'maintenance']);
    const others = await Promise.all([0, 1, 2].map((i) => addTask(`While drained ${i}`, 'instant')));
    for (const o of others) expect((await done(o, 30_000)).attempt_history[0].node).not.toBe(drained);
    writeFileSync(gates.g5, 'open\n');
    expect((await done(id)).attempt_history.map((a) => [a.state, a.node])).toEqual([['succeeded', drained]]);
    expect((await fleet.coordinator.run(['node', 'resume', drained], { env: env() })).code).toBe(0);
    expect((await nodes()).find((n) => n.name === drained)!.state).toBe('up');
  }, 120_000);

  it('a NATS outage longer than the node timeout loses no node and re-runs nothing', async () => {
    await fleet.nats.down();
    const ids: number[] = [];
    try {
      // Added while the bus is down: the coordinator cannot publish their assignments.
      for (let i = 0; i < 3; i++) ids.push(await addTask(`During a NATS outage ${i}`, 'instant'));
      // Longer than the node TTL (3 s): nobody may be declared lost for the coordinator's own blindness.
      await new Promise((r) => setTimeout(r, 12_000));
      for (const id of ids) expect((await task(id)).status).not.toBe('needs_review');
    } finally {
      await fleet.nats.up();
    }
    for (const id of ids) {
      const t = await done(id, 90_000);
      // Attempts that never left the coordinator do not count; exactly one ran, and it succeeded.
      expect(t.attempt_history.filter((a) => a.state === 'succeeded')).toHaveLength(1);
      expect(t.attempt_history.filter((a) => a.state !== 'lost' && a.state !== 'succeeded')).toEqual([]);
      expect(runs(runsFile).filter((r) => r.task === id && r.kind === 'start')).toHaveLength(1);
    }
  }, 180_000);

  it('a standby takes over within failover_seconds when the leader is killed, and the fleet goes on', async () => {
    // Both coordinators run (one leads, one stands by); kill whichever leads.
    await waitFor(() => /standing by/.test(fleet.coordinator.logOf('serve') + fleet.standby!.home.logOf('serve')), { what: 'a standby' });
    const { proc, other } = await fleet.leader();
    const t0 = Date.now();
    proc.kill('SIGKILL');
    const leader = await waitFor(async () => {
      const r = await fleet.coordinator.run(['status', '--json'], { env: env() });
      if (r.code !== 0) return undefined;
      const s = JSON.parse(r.stdout) as { listen: string; role: string; epoch: number };
      return s.listen === other ? s : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100, what: 'the standby to lead' });
    const takeoverMs = Date.now() - t0;
    console.log(`standby takeover: ${takeoverMs} ms (failover_seconds 3)`);
    expect(leader.role).toBe('leader');
    expect(takeoverMs).toBeLessThan(3_000 + 5_000);
    const id = await addTask('After the failover', 'instant');
    expect((await done(id, 60_000)).attempt_history.map((a) => a.state)).toEqual(['succeeded']);
  }, 120_000);
});

describe.skipIf(!available)('the coordinator survives a PostgreSQL restart', () => {
  let pg: PostgresServer;
  let fleet: Fleet;
  let runsFile: string;
  let gate: string;

  beforeAll(async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'orch-pgrestart-'));
    runsFile = join(scratch, 'runs.txt');
    gate = join(scratch, 'gate');
    pg = await startPostgresServer();
    fleet = new Fleet({
      nodes: 2, slots: 2, nodeTtlSeconds: 3, databaseUrl: await pg.createDatabase(),
      agentsYaml: `agents:\n  gated:\n    kind: command\n    command: ${instantAgent(scratch, runsFile, 0, 'gated.sh', gate)}`,
    });
    await fleet.start();
    const repo = await makeRepo(fleet.coordinator.dir);
    expect((await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() })).code).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await fleet?.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
    await pg?.stop();
  });

  it('tasks running across the restart finish once; the coordinator never exits', async () => {
    const env = fleet.cliEnv();
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await fleet.coordinator.json<TaskJson>(['task', 'add', `Across a database restart ${i}`, '--agent', 'gated'], { env })).id);
    await waitFor(async () => (await Promise.all(ids.map((id) => fleet.coordinator.json<TaskJson>(['task', 'get', String(id)], { env }))))
      .every((t) => t.attempt_history.at(-1)?.state === 'running'), { timeoutMs: 30_000, what: 'the tasks to run' });
    await pg.restart(3_000);
    writeFileSync(gate, 'open\n'); // they finish while the coordinator is still finding its database again
    const all = await waitFor(async () => {
      const ts = await Promise.all(ids.map((id) => fleet.coordinator.json<TaskJson>(['task', 'get', String(id)], { env }))).catch(() => undefined);
      return ts?.every((t) => t.status === 'done') ? ts : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, what: 'every task to finish after the database restart' });
    expect(fleet.coordinatorProc.exitCode).toBeNull();
    for (const t of all) {
      expect(t.attempt_history.filter((a) => a.state === 'succeeded')).toHaveLength(1);
      expect(runs(runsFile).filter((r) => r.task === t.id && r.kind === 'start')).toHaveLength(1);
    }
  }, 150_000);
});
