// Fleet mode with real processes: nats-server, a coordinator and `orch node start`
// processes with separate ORCH_HOMEs, all on loopback.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concurrentRuns, describeRun } from '../chaos/overlap.js';
import { Fleet, instantAgent } from '../harness/fleet.js';
import { natsServerAvailable } from '../harness/nats-server.js';
import { git, makeRepo, ORCH_BIN } from '../harness/orch.js';
import { RunWatch } from '../harness/run-watch.js';
import { waitFor } from '../harness/wait.js';

interface TaskJson { id: number; status: string; attempts: number; node: string; branch: string; reason: string; attempt_history: Array<{ number: number; node: string; state: string; dir: string }> }

const available = natsServerAvailable();
if (!available) console.warn('\n*** SKIPPING fleet tests: nats-server is not installed (apt-get install nats-server) ***\n');

interface Run { node: string; task: number; attempt: number; kind: 'start' | 'end'; at: bigint }
function runs(file: string): Run[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [node, task, attempt, kind, at] = l.split(' ');
    return { node, task: Number(task), attempt: Number(attempt), kind: kind as Run['kind'], at: BigInt(at) };
  });
}

/** The agent's file at the head of a task's branch on the origin: `task ID attempt N`. */
function headFile(origin: string, t: TaskJson): Promise<string> {
  return git(['--git-dir', origin, 'show', `${t.branch}:task-${t.id}.txt`]);
}

/** The most attempts that ran at the same time on one node. */
function peakConcurrency(rs: Run[], node: string): number {
  const ev = rs.filter((r) => r.node === node).map((r) => ({ at: r.at, d: r.kind === 'start' ? 1 : -1 }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.d - b.d));
  let cur = 0;
  let peak = 0;
  for (const e of ev) { cur += e.d; peak = Math.max(peak, cur); }
  return peak;
}

describe.skipIf(!available)('fleet: coordinator + three agent-nodes over NATS', () => {
  let fleet: Fleet;
  let repo: { work: string; origin: string };
  let runsFile: string;
  let gate: string;
  let streamGate: string;

  beforeAll(async () => {
    const scratch = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'orch-fleet-'));
    runsFile = join(scratch, 'runs.txt');
    const agent = instantAgent(scratch, runsFile, 0.5);
    // Works until a gate nobody opens: it is still running whenever the kill comes, however loaded the machine.
    const doomed = instantAgent(scratch, runsFile, { file: 'doomed-agent.sh', gateFile: join(scratch, 'never-opened') });
    gate = join(scratch, 'gate');
    const gated = instantAgent(scratch, runsFile, { file: 'gated-agent.sh', gateFile: gate });
    // Prints a line every 0.1 s until the test opens its gate: it is still running when the test looks.
    streamGate = join(scratch, 'stream-gate');
    const streaming = join(scratch, 'streaming-agent.sh');
    writeFileSync(streaming, [
      '#!/bin/bash',
      'i=0',
      `until [ -f ${JSON.stringify(streamGate)} ]; do i=$((i+1)); echo "working $i"; sleep 0.1; done`,
      'echo "task $ORCH_TASK_ID attempt $ORCH_ATTEMPT" > "task-$ORCH_TASK_ID.txt"',
      'echo "stopped after $i lines"',
      `echo '{"status":"done","summary":"streamed '$i' lines"}'`,
    ].join('\n') + '\n', { mode: 0o755 });
    fleet = new Fleet({ nodes: 3, slots: 2, agentsYaml: `agents:\n  instant:\n    kind: command\n    command: ${agent}\n  doomed:\n    kind: command\n    command: ${doomed}\n  gated:\n    kind: command\n    command: ${gated}\n  streaming:\n    kind: command\n    command: ${streaming}\n` });
    await fleet.start();
    repo = await makeRepo(fleet.coordinator.dir);
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    expect(add.code, add.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  const cli = (args: string[]) => fleet.coordinator.run(args, { env: fleet.cliEnv() });
  const tasks = () => fleet.coordinator.json<TaskJson[]>(['task', 'list'], { env: fleet.cliEnv() });
  const task = (id: number) => fleet.coordinator.json<TaskJson>(['task', 'get', String(id)], { env: fleet.cliEnv() });

  it('refuses a CLI without the cluster token', async () => {
    const r = await fleet.coordinator.run(['task', 'list']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cluster token/);
  });

  it('runs 30 tasks, each exactly once, spread over the nodes, never over a node\'s slots', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await fleet.coordinator.json<TaskJson>(['task', 'add', `Task ${i}`, '--agent', 'instant'], { env: fleet.cliEnv() });
      ids.push(r.id);
    }
    await waitFor(async () => (await tasks()).filter((t) => ids.includes(t.id)).every((t) => t.status === 'done'), { timeoutMs: 120_000, intervalMs: 500, what: '30 tasks to finish' });
    const all = (await tasks()).filter((t) => ids.includes(t.id));
    expect(all.every((t) => t.attempts === 1)).toBe(true);
    const rs = runs(runsFile).filter((r) => ids.includes(r.task));
    const starts = rs.filter((r) => r.kind === 'start');
    expect(starts).toHaveLength(30);
    expect(new Set(starts.map((r) => r.task)).size).toBe(30);
    const perNode = new Map<string, number>();
    for (const r of starts) perNode.set(r.node, (perNode.get(r.node) ?? 0) + 1);
    expect([...perNode.keys()].sort()).toEqual(['node1', 'node2', 'node3']);
    for (const n of fleet.nodes) expect(peakConcurrency(rs, n.name)).toBeLessThanOrEqual(n.slots);
    // Each task's branch reached the origin with the agent's file.
    for (const id of ids.slice(0, 5)) expect(await headFile(repo.origin, await task(id))).toBe(`task ${id} attempt 1\n`);
  }, 180_000);

  it('streams a running task\'s output to a separate CLI, byte for byte equal to output.log', async () => {
    // The agent runs until the gate opens (a fixed-length run could end, on a loaded machine, before
    // the stream's first bytes and the status check that follows them).
    const t = await fleet.coordinator.json<TaskJson>(['task', 'add', 'Streamed', '--agent', 'streaming'], { env: fleet.cliEnv() });
    await waitFor(async () => (await task(t.id)).status === 'in_progress', { timeoutMs: 30_000, what: 'the task to start' });
    const chunks: Buffer[] = [];
    let sawWhileRunning = false;
    const p = spawn(process.execPath, [ORCH_BIN, 'stream', String(t.id)], { env: { ...fleet.coordinator.env(), ...fleet.cliEnv() } });
    const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    p.stdout.on('data', (d: Buffer) => { chunks.push(d); });
    try {
      await waitFor(() => chunks.length > 0, { timeoutMs: 30_000, what: 'streamed output' });
      sawWhileRunning = (await task(t.id)).status === 'in_progress';
    } finally {
      writeFileSync(streamGate, 'open\n');
    }
    const code = await exited;
    expect(code).toBe(0);
    const final = await task(t.id);
    expect(final.status).toBe('done');
    expect(sawWhileRunning).toBe(true);
    // output.log as the node that ran the attempt wrote it, in that node's ORCH_HOME.
    const node = fleet.nodes.find((n) => n.name === final.node);
    expect(node?.name).toBe(final.node);
    const dir = final.attempt_history[0].dir;
    expect(dir.startsWith(node!.home.home + '/'), `${dir} is not under ${node!.home.home}`).toBe(true);
    const log = readFileSync(join(dir, 'output.log'));
    expect(log.toString()).toMatch(/(^|\n)working 1\n[\s\S]*\nstopped after \d+ lines\n/);
    expect(Buffer.concat(chunks).equals(log)).toBe(true);
  }, 60_000);

  it('kill -9 of a node mid-task: the task completes on another node, none lost, none run twice', async () => {
    const watch = new RunWatch(runsFile).start();
    try {
      const ids: number[] = [];
      // Gated tasks run until the gate opens, so the victim surely dies in the middle of one.
      // Four of them on six slots: after the crash the two survivors have room for what the victim held.
      for (let i = 0; i < 4; i++) ids.push((await fleet.coordinator.json<TaskJson>(['task', 'add', `Crash ${i}`, '--agent', 'gated'], { env: fleet.cliEnv() })).id);
      const mine = () => watch.runs().filter((r) => ids.includes(r.task));
      // A node whose agent has really started (its own record says so).
      const victim = await waitFor(() => {
        const r = mine().find((x) => x.how === 'running');
        return r && fleet.nodes.find((n) => n.name === r.node);
      }, { timeoutMs: 30_000, what: 'an agent running on a node' });
      const orphans = mine().filter((r) => r.node === victim.name);
      victim.proc.kill('SIGKILL');
      // The gate stays shut until every task the victim ran has started again elsewhere: if the
      // victim's session (tmux outlives its node) were still running then, the task runs twice.
      await waitFor(() => orphans.every((o) => mine().some((r) => r.task === o.task && r.node !== victim.name)),
        { timeoutMs: 60_000, what: `the tasks of ${victim.name} to start on another node` });
      writeFileSync(gate, 'open\n');
      await waitFor(async () => (await tasks()).filter((t) => ids.includes(t.id)).every((t) => t.status === 'done'), { timeoutMs: 90_000, intervalMs: 500, what: 'every task to finish after the crash' });
      const all = await Promise.all(ids.map(task));
      const moved = all.filter((t) => t.attempt_history.some((a) => a.state === 'lost'));
      expect(moved.map((t) => t.id)).toEqual(expect.arrayContaining(orphans.map((o) => o.task)));
      for (const t of moved) {
        expect(t.attempt_history.at(-1)!.state).toBe('succeeded');
        expect(t.attempt_history.at(-1)!.node).not.toBe(victim.name);
      }
      // Completed exactly once: one succeeded attempt per task, and its commit is the branch head.
      for (const t of all) {
        const ok = t.attempt_history.filter((a) => a.state === 'succeeded');
        expect(ok).toHaveLength(1);
        expect(await headFile(repo.origin, t)).toBe(`task ${t.id} attempt ${ok[0].number}\n`);
      }
      // Run once at a time, by the agents' own records: the victim's sessions ended before the
      // tasks started elsewhere, and none of them is still running now.
      await waitFor(() => mine().every((r) => r.how !== 'running'), { timeoutMs: 15_000, what: 'every agent process to be gone' })
        .catch(() => undefined);
      expect(mine().filter((r) => r.how === 'running').map(describeRun)).toEqual([]);
      expect(concurrentRuns(mine()).map(([a, b]) => `${describeRun(a)} || ${describeRun(b)}`)).toEqual([]);
    } finally {
      writeFileSync(gate, 'open\n'); // whatever happened, no gated task may hold a slot for the tests after this one
      watch.stop();
    }
    const victim = fleet.nodes.find((n) => n.proc.exitCode !== null || n.proc.signalCode !== null);
    if (victim) {
      fleet.nodes = fleet.nodes.filter((n) => n !== victim);
      await victim.home.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    }
  }, 180_000);

  it('orch task kill reaches the node that runs the task', async () => {
    const t = await fleet.coordinator.json<TaskJson>(['task', 'add', 'Doomed', '--agent', 'doomed'], { env: fleet.cliEnv() });
    const running = await waitFor(async () => {
      const full = await task(t.id);
      return full.attempt_history[0]?.state === 'running' ? full : undefined;
    }, { timeoutMs: 30_000, what: 'the task to run' });
    const node = fleet.nodes.find((n) => n.name === running.node)!;
    await waitFor(async () => (await node.home.tmuxSessions()).length > 0, { what: 'the session on the node' });
    // The agent's own process, seen alive (its identity noted, so a reused pid is not taken for it).
    const watch = new RunWatch(runsFile);
    await waitFor(() => watch.running().some((r) => r.task === t.id), { what: 'the agent\'s process' });
    const k = await cli(['task', 'kill', String(t.id)]);
    expect(k.code, k.stderr).toBe(0);
    const after = await task(t.id);
    expect(after.status).toBe('needs_review');
    expect(after.attempt_history[0].state).toBe('killed');
    // The agent's session on that node is gone, so is the agent's own process, and it never reached its end.
    await waitFor(async () => (await node.home.tmuxSessions()).length === 0, { what: 'the session to be killed' });
    const mine = await waitFor(() => { const r = watch.runs().filter((x) => x.task === t.id); return r.every((x) => x.how !== 'running') ? r : undefined; },
      { timeoutMs: 15_000, what: 'the killed agent\'s process to be gone' });
    expect(mine.map((r) => r.how)).toEqual(['gone']);
    expect(runs(runsFile).filter((r) => r.task === t.id).map((r) => r.kind)).toEqual(['start']);
  }, 60_000);

  it('restarting nats-server delays work but loses none', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) ids.push((await fleet.coordinator.json<TaskJson>(['task', 'add', `Through restart ${i}`, '--agent', 'instant'], { env: fleet.cliEnv() })).id);
    await fleet.nats.restart();
    for (let i = 0; i < 4; i++) ids.push((await fleet.coordinator.json<TaskJson>(['task', 'add', `After restart ${i}`, '--agent', 'instant'], { env: fleet.cliEnv() })).id);
    await waitFor(async () => (await tasks()).filter((t) => ids.includes(t.id)).every((t) => t.status === 'done'), { timeoutMs: 120_000, intervalMs: 500, what: 'tasks to finish after the NATS restart' });
    const all = await Promise.all(ids.map(task));
    for (const t of all) expect(t.attempt_history.filter((a) => a.state === 'succeeded')).toHaveLength(1);
    // The outage was the coordinator's blind spot, not the nodes' fault: nothing was re-run.
    expect(all.map((t) => t.attempt_history.length)).toEqual(ids.map(() => 1));
  }, 180_000);

});
