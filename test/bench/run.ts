// `npm run bench`: dispatch latency (task added -> agent process started on a node)
// and sustained throughput for 500 tasks over 3 agent-nodes with an instant agent,
// plus peak RSS of the coordinator and a node. Real processes: nats-server, `orch
// serve` (fleet mode, embedded PostgreSQL), three `orch node start`. Then the cost of
// telemetry: idle dispatch latency on two fresh fleets side by side, telemetry off and on
// (exporting traces and metrics to a local OTLP receiver); BENCH_TELEMETRY=0 skips it.
import { credentials } from '@grpc/grpc-js';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinatorClient, type ListTasksResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { Task } from '../../proto/gen/orch/v1/types.js';
import { tokenMetadata } from '../../runtime/grpc-auth.js';
import { startFakeOtlp } from '../fixtures/fake-otlp.js';
import { Fleet } from '../harness/fleet.js';
import { makeRepo } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 500);
const IDLE_TASKS = Number(process.env.BENCH_IDLE_TASKS ?? 40);
const NODES = 3;
const SLOTS = Number(process.env.BENCH_SLOTS ?? 8);
const TELEMETRY = process.env.BENCH_TELEMETRY !== '0';
// "Off" means what a user gets by default: no OTEL_* variable reaches the fleet.
for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];

function peakRssMb(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = s.match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds of a process: [self, waited-for children] from /proc/PID/stat. */
function cpuSeconds(pid: number): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  const tick = 100;
  return [(Number(rest[11]) + Number(rest[12])) / tick, (Number(rest[13]) + Number(rest[14])) / tick];
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'orch-bench-'));
  const runsFile = join(scratch, 'starts.txt');
  const agent = join(scratch, 'instant.sh');
  writeFileSync(agent, `#!/bin/bash\necho "$ORCH_TASK_ID $(date +%s%N)" >> ${JSON.stringify(runsFile)}\necho '{"status":"done","summary":"ok"}'\n`, { mode: 0o755 });
  const fleet = new Fleet({ nodes: NODES, slots: SLOTS, agentsYaml: `agents:\n  instant:\n    kind: command\n    command: ${agent}\n`, nodeTtlSeconds: 10 });
  let stopped = false;
  try {
    await fleet.start();
    const repo = await makeRepo(scratch);
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    if (add.code !== 0) throw new Error(add.stderr);
    // 1. Dispatch latency on an idle fleet: one task at a time.
    const { client, call, idle, coordPart, startsOf, wallNs, addTask, probe } = idleProbe(fleet, runsFile);
    for (let i = 0; i < IDLE_TASKS; i++) await probe(i);

    // 2. Sustained: TASKS added at once (16 concurrent adders, as a busy team or a GitHub sync would).
    const addedAt = new Map<number, bigint>();
    const t0 = process.hrtime.bigint();
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < TASKS) {
        const i = next++;
        const at = wallNs();
        const t = await addTask(IDLE_TASKS + i);
        addedAt.set(t.id, at);
      }
    }));
    await waitFor(async () => {
      const { tasks } = await call<object, ListTasksResponse>('listTasks', { status: 'done', project: '' });
      return tasks.length >= TASKS + IDLE_TASKS;
    }, { timeoutMs: 900_000, intervalMs: 100, what: `${TASKS} tasks to finish` });
    const tEnd = process.hrtime.bigint();
    const starts = startsOf();
    const queued = [...addedAt].filter(([id]) => starts.has(id)).map(([id, at]) => Number(starts.get(id)! - at) / 1e6);
    const secs = Number(tEnd - t0) / 1e9;
    const coordRss = peakRssMb(fleet.coordinatorProc.pid!);
    const all = TASKS + IDLE_TASKS;
    const coordCpu = cpuSeconds(fleet.coordinatorProc.pid!);
    const nodeCpu = fleet.nodes.map((n) => cpuSeconds(n.proc.pid!)).reduce((a, b) => [a[0] + b[0], a[1] + b[1]], [0, 0]);
    const nodeRss = Math.max(...fleet.nodes.map((n) => peakRssMb(n.proc.pid!)));
    const rows: Array<[string, string]> = [
      ['fleet', `${NODES} nodes x ${SLOTS} slots, instant agent, ${cpus().length} CPU cores`],
      ['idle dispatch latency p50', `${pct(idle, 50).toFixed(1)} ms (task added -> agent started, ${IDLE_TASKS} tasks one at a time)`],
      ['idle dispatch latency p99', `${pct(idle, 99).toFixed(1)} ms`],
      ['  of which coordinator p50', `${pct(coordPart, 50).toFixed(1)} ms (task created -> assignment published; p99 ${pct(coordPart, 99).toFixed(1)} ms)`],
      ['burst: added -> started p50', `${pct(queued, 50).toFixed(0)} ms (includes waiting for a free slot)`],
      ['burst: added -> started p99', `${pct(queued, 99).toFixed(0)} ms`],
      ['sustained throughput', `${(TASKS / secs).toFixed(1)} tasks/s (${TASKS} tasks, ${secs.toFixed(1)} s from first add to last done)`],
      ['coordinator peak RSS', `${coordRss.toFixed(0)} MB`],
      ['node peak RSS (max of 3)', `${nodeRss.toFixed(0)} MB`],
      ['CPU per task: coordinator', `${((coordCpu[0] * 1000) / all).toFixed(1)} ms (process CPU incl. start-up / ${all} tasks)`],
      ['CPU per task: node process', `${((nodeCpu[0] * 1000) / all).toFixed(1)} ms (3 nodes together)`],
      ['CPU per task: node children', `${((nodeCpu[1] * 1000) / all).toFixed(1)} ms (git, bash, tmux client; not the tmux server, the agent, PostgreSQL or NATS)`],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(`\n${'metric'.padEnd(w)}  value\n${'-'.repeat(w)}  ${'-'.repeat(40)}\n`);
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
    client.close();
    await fleet.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
    stopped = true;
    if (TELEMETRY) {
      const cost = await tracingCost(scratch);
      const p = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;
      const t: Array<[string, string]> = [
        ['idle dispatch, telemetry off', `${p(cost.off.idle)}; coordinator p50 ${pct(cost.off.coordPart, 50).toFixed(1)} ms (no provider, no exporter)`],
        ['idle dispatch, telemetry on', `${p(cost.on.idle)}; coordinator p50 ${pct(cost.on.coordPart, 50).toFixed(1)} ms (${cost.spans} spans, ${cost.points} metric points exported)`],
        ['CPU per task, off / on', `${cost.cpuMs[0].toFixed(1)} / ${cost.cpuMs[1].toFixed(1)} ms (coordinator + nodes, over the probes)`],
        ['telemetry cost (on - off), p50', `${(pct(cost.on.idle, 50) - pct(cost.off.idle, 50)).toFixed(1)} ms per task (${IDLE_TASKS} tasks each, two fresh fleets side by side, in turns)`],
      ];
      const tw = Math.max(w, ...t.map((r) => r[0].length));
      process.stdout.write(`\n${'telemetry'.padEnd(tw)}  value\n${'-'.repeat(tw)}  ${'-'.repeat(40)}\n`);
      for (const [k, v] of t) process.stdout.write(`${k.padEnd(tw)}  ${v}\n`);
    }
  } finally {
    if (!stopped) await fleet.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
    if (!existsSync(scratch)) return;
  }
}

/**
 * The cost of telemetry: two fresh fleets side by side, one with telemetry off (no OTEL_*
 * variable) and one exporting traces and metrics to a local OTLP receiver, measured in
 * turns (one idle task on each, alternately) so load from elsewhere hits both alike.
 */
async function tracingCost(scratch: string) {
  const otlp = await startFakeOtlp();
  const fleets: Fleet[] = [];
  try {
    const make = async (env: NodeJS.ProcessEnv, name: string) => {
      // Its own agent and starts file: task ids start at 1 on each fleet.
      const dir = mkdtempSync(join(scratch, `${name}-`));
      const runsFile = join(dir, 'starts.txt');
      const agent = join(dir, 'instant.sh');
      writeFileSync(agent, `#!/bin/bash\necho "$ORCH_TASK_ID $(date +%s%N)" >> ${JSON.stringify(runsFile)}\necho '{"status":"done","summary":"ok"}'\n`, { mode: 0o755 });
      const fleet = new Fleet({ nodes: NODES, slots: SLOTS, agentsYaml: `agents:\n  instant:\n    kind: command\n    command: ${agent}\n`, nodeTtlSeconds: 10, processEnv: env });
      fleets.push(fleet);
      await fleet.start();
      const repo = await makeRepo(dir);
      const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
      if (add.code !== 0) throw new Error(add.stderr);
      return { ...idleProbe(fleet, runsFile), fleet };
    };
    // CPU of the coordinator and the nodes over the probes only (start-up left out).
    const cpuOf = (f: Fleet) => cpuSeconds(f.coordinatorProc.pid!)[0] + f.nodes.reduce((n, x) => n + cpuSeconds(x.proc.pid!)[0], 0);
    const off = await make({}, 'off');
    const on = await make({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_METRIC_EXPORT_INTERVAL: '1000' }, 'on');
    const cpu0 = [cpuOf(off.fleet), cpuOf(on.fleet)];
    for (let i = 0; i < IDLE_TASKS; i++) {
      // Alternate which goes first, so neither always follows the other's work.
      for (const p of i % 2 ? [on, off] : [off, on]) await p.probe(i);
    }
    const cpuMs = [cpuOf(off.fleet) - cpu0[0], cpuOf(on.fleet) - cpu0[1]].map((x) => (x * 1000) / IDLE_TASKS);
    off.client.close();
    on.client.close();
    if (!otlp.spans.length || otlp.rejected.length) throw new Error(`telemetry on exported ${otlp.spans.length} spans (${otlp.rejected.length} rejected)`);
    return { off, on, cpuMs, spans: otlp.spans.length, points: otlp.points.length };
  } finally {
    for (const f of fleets) await f.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
    await otlp.close();
  }
}

/** Dispatch latency on an idle fleet: probe() runs one task alone, task added -> agent process started. */
function idleProbe(fleet: Fleet, runsFile: string) {
  const client = new CoordinatorClient(fleet.address, credentials.createInsecure());
  const md = tokenMetadata(fleet.token);
  const call = <Req, Res>(m: string, req: Req) => new Promise<Res>((res, rej) =>
    (client as unknown as Record<string, (r: Req, md: unknown, cb: (e: Error | null, r: Res) => void) => void>)[m].call(client, req, md, (e, r) => (e ? rej(e) : res(r))));

  // Wall clock in ns with sub-ms precision, comparable with the agent's `date +%s%N`.
  const wallNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  const startsOf = (): Map<number, bigint> => {
    const m = new Map<number, bigint>();
    if (!existsSync(runsFile)) return m;
    for (const l of readFileSync(runsFile, 'utf8').split('\n').filter(Boolean)) {
      const [id, ns] = l.split(' ');
      if (!m.has(Number(id))) m.set(Number(id), BigInt(ns));
    }
    return m;
  };
  const addTask = (i: number) => call<object, Task>('addTask', { title: `bench ${i}`, body: '', agent: 'instant', complexity: '', labels: [], project: '' });
  const idle: number[] = [];
  const coordPart: number[] = [];
  const probe = async (i: number) => {
    const at = wallNs();
    const t = await addTask(i);
    const started = await waitFor(() => startsOf().get(t.id), { timeoutMs: 30_000, intervalMs: 2, what: `idle task ${t.id} to start` });
    idle.push(Number(started - at) / 1e6);
    const done = await waitFor(async () => {
      const full = await call<object, Task>('getTask', { id: t.id });
      return full.status === 'done' ? full : undefined;
    }, { timeoutMs: 30_000, intervalMs: 5, what: `idle task ${t.id} to finish` });
    // The coordinator's share, from its own history: task created -> assignment published.
    const dispatched = done.events.find((e) => e.event === 'dispatched');
    if (dispatched) coordPart.push(Date.parse(dispatched.at) - Date.parse(done.createdAt));
  };
  return { client, call, idle, coordPart, startsOf, wallNs, addTask, probe };
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
