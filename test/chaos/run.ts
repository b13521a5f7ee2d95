// `npm run chaos`: N tasks over 3 agent-nodes with a slow-ish command agent, one fault
// per scenario on a fresh fleet (real nats-server, PostgreSQL server, `orch serve`,
// `orch node start`, tmux, git). One table row per fault; exit 1 when any task was
// lost, ran twice at the same time, or had its branch moved by another attempt.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '../../proto/gen/orch/v1/types.js';
import { Fleet, instantAgent } from '../harness/fleet.js';
import { natsServerAvailable } from '../harness/nats-server.js';
import { makeRepo } from '../harness/orch.js';
import { startPostgresServer, type PostgresServer } from '../harness/postgres.js';
import { RunWatch } from '../harness/run-watch.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import { waitFor } from '../harness/wait.js';
import { ChaosApi } from './api.js';
import { branchHistory, enableReflog } from './origin.js';
import { parseChaosArgs, type ChaosOptions } from './options.js';
import { concurrentRuns, describeRun, tasksRunTwice } from './overlap.js';
import { judgeBranch } from './pushes.js';
import { FAULTS, SCENARIOS, type Scenario } from './scenarios.js';
import { exitCode, formatTable, rowFailed, type ChaosRow } from './table.js';

const NODES = 3;
const SLOTS = 2;
const AGENT_SECONDS = 5; // longer than the node timeout: an orphaned run outlives the coordinator's decision to re-run it
const NODE_TTL_SECONDS = 3;
/** No task changed status for this long: the rest are stuck. */
const STALL_MS = 60_000;
const TERMINAL = new Set(['done', 'needs_review', 'blocked']);

const say = (msg: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function runScenario(s: Scenario, o: ChaosOptions, pg: PostgresServer): Promise<ChaosRow> {
  const row: ChaosRow = { fault: s.name, tasks: o.tasks, done: 0, lost: o.tasks, runTwice: 0, otherPushes: 0, moved: 0 };
  const dir = mkdtempSync(join(tmpdir(), `orch-chaos-${s.name}-`));
  const runsFile = join(dir, 'runs.txt');
  const faultDir = join(dir, 'faults');
  mkdirSync(faultDir);
  const agent = instantAgent(dir, runsFile, { sleepSeconds: AGENT_SECONDS, file: 'chaos-agent.sh', faultDir });
  let fleet: Fleet | undefined;
  let proxy: TcpProxy | undefined;
  let api: ChaosApi | undefined;
  const watch = new RunWatch(runsFile).start();
  let keep = o.keep;
  onInterrupt = async () => { await fleet?.stop(); await proxy?.stop(); rmSync(dir, { recursive: true, force: true }); };
  try {
    if (s.natsProxy) proxy = await startTcpProxy(() => ({ host: '127.0.0.1', port: fleet!.nats.port }));
    fleet = new Fleet({
      nodes: NODES, slots: SLOTS, nodeTtlSeconds: NODE_TTL_SECONDS, standby: s.fleet?.standby,
      databaseUrl: await pg.createDatabase(),
      workflowYaml: `workflow:\n  max_attempts: 3\n  timeout_seconds: ${s.timeoutSeconds ?? 120}\n  retry_delay_seconds: 1`,
      agentsYaml: `agents:\n  chaos:\n    kind: command\n    command: ${agent}\n`,
      natsUrlFor: proxy ? (i, url) => (i === 1 ? proxy!.url('nats') : url) : undefined,
    });
    await fleet.start();
    const repo = await makeRepo(dir);
    await enableReflog(repo.origin);
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    if (add.code !== 0) throw new Error(`project add: ${add.stderr.trim()}`);
    api = await ChaosApi.connect(fleet.addressList, fleet.token);

    const ids: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < o.tasks) {
        const i = next++;
        ids.push(Number((await api!.addTask(`chaos ${s.name} ${i}`, 'chaos')).id));
      }
    }));

    // Observe: every task's status, and when each was first seen done.
    const status = new Map<number, string>();
    const doneSeen = new Map<number, number>();
    let lastChange = Date.now();
    const poll = async () => {
      const tasks = await api!.listTasks().catch(() => undefined);
      if (!tasks) return;
      for (const t of tasks) {
        const id = Number(t.id);
        if (status.get(id) !== t.status) lastChange = Date.now();
        status.set(id, t.status);
        if (t.status === 'done' && !doneSeen.has(id)) doneSeen.set(id, Date.now());
      }
    };
    const doneCount = () => ids.filter((id) => status.get(id) === 'done').length;

    const ctx = { fleet, pg, proxy, watch, faultDir, nodeTtlSeconds: NODE_TTL_SECONDS };
    await waitFor(async () => {
      await poll();
      return doneCount() >= Math.max(1, Math.floor(o.tasks / 4)) && watch.running().length >= 2 && (s.due?.(ctx) ?? true);
    }, { timeoutMs: 180_000, intervalMs: 200, what: 'a quarter of the tasks done with attempts running' });

    const tFault = Date.now();
    const running = watch.running();
    say(`${s.name}: injecting (${doneCount()}/${o.tasks} done, running: ${running.map((r) => `${r.task}@${r.node}`).join(' ')}): ${s.what}`);
    const detail = await s.inject(ctx);
    const tInjected = Date.now();
    say(`${s.name}: ${detail} (${((tInjected - tFault) / 1000).toFixed(1)} s)`);
    lastChange = Date.now();

    const coordinatorsAlive = () => [fleet!.coordinatorProc, fleet!.standby?.proc].some((p) => p && p.exitCode === null && p.signalCode === null);
    const settled = await waitFor(async () => {
      await poll();
      if (ids.every((id) => TERMINAL.has(status.get(id) ?? ''))) return 'settled';
      if (!coordinatorsAlive()) return 'coordinator-died';
      return Date.now() - lastChange > STALL_MS ? 'stalled' : undefined;
    }, { timeoutMs: 30 * 60_000, intervalMs: 300, what: 'every task to settle' });
    if (settled === 'coordinator-died') {
      const p = fleet.coordinatorProc;
      say(`${s.name}: orch serve died (${p.signalCode ?? `exit ${p.exitCode}`}); its last words:`);
      for (const l of fleet.coordinator.logOf('serve').split('\n').filter((x) => x && !x.startsWith('{"level":"info"')).slice(-12)) say(`    ${l.slice(0, 300)}`);
    }
    // A run without an end record may be an orphan that still works: give it the chance to be fenced.
    await waitFor(() => watch.running().length === 0, { timeoutMs: 15_000, intervalMs: 200 }).catch(() => undefined);

    // Each task as the coordinator has it now (or as last seen, if no coordinator answers any more).
    const final = new Map<number, Task>();
    for (const id of ids) {
      final.set(id, await api.getTask(id).catch(() => ({ id, status: status.get(id) ?? 'unknown', attemptHistory: [], branch: '', reason: 'no coordinator answers' }) as unknown as Task));
    }
    const runs = watch.runs();
    const twice = tasksRunTwice(runs);
    row.done = ids.filter((id) => final.get(id)!.status === 'done').length;
    row.lost = o.tasks - row.done;
    row.runTwice = twice.length;
    // Recovery: the fleet takes new work and completes it again (a task whose run started after the fault).
    const startedAfter = new Set(runs.filter((r) => r.start >= tInjected).map((r) => r.task));
    const firstDone = [...doneSeen].filter(([id, at]) => at >= tInjected && startedAfter.has(id)).map(([, at]) => at).sort((a, b) => a - b)[0];
    row.recoveryMs = firstDone === undefined ? undefined : firstDone - tFault;
    const movedIds: number[] = [];
    const branchNotes = new Map<number, string>();
    for (const [id, t] of final) {
      if (t.status !== 'done' || !t.attemptHistory.length) continue;
      const ok = t.attemptHistory.find((a) => a.state === 'succeeded');
      const h = await branchHistory(repo.origin, t.branch, id);
      const v = judgeBranch(ok?.number ?? -1, h);
      row.otherPushes += v.otherPushes;
      if (v.moved) {
        movedIds.push(id);
        branchNotes.set(id, h.updates.length ? `succeeded attempt ${ok?.number}; updates by attempts [${h.updates.join(', ')}] (0 = unknown), head now attempt ${h.head}` : `succeeded attempt ${ok?.number}, but the branch is not on the origin`);
      }
    }
    row.moved = movedIds.length;

    // Evidence for whatever failed.
    if (settled === 'stalled') say(`${s.name}: no task changed status for ${STALL_MS / 1000} s; the rest count as lost`);
    const coordLog = [fleet.coordinator.logOf('serve'), fleet.standby?.home.logOf('serve') ?? ''].join('\n');
    const linesOf = (id: number) => coordLog.split('\n').filter((l) => l.includes(`"task":${id},`) || l.includes(`"task":${id}}`)).slice(-8);
    for (const id of ids.filter((x) => final.get(x)!.status !== 'done').slice(0, 3)) {
      const t = final.get(id)!;
      say(`${s.name}: LOST task ${id}: ${t.status}${t.reason ? ` (${t.reason})` : ''}; attempts ${t.attemptHistory.map((a) => `${a.number}:${a.state}@${a.node}`).join(' ')}`);
      for (const l of linesOf(id)) say(`    ${l.slice(0, 400)}`);
    }
    for (const [a, b] of concurrentRuns(runs).slice(0, 5)) say(`${s.name}: RUN TWICE: ${describeRun(a)} || ${describeRun(b)}`);
    for (const id of movedIds.slice(0, 3)) say(`${s.name}: BRANCH WRONG for task ${id} (${final.get(id)!.branch}): ${branchNotes.get(id)}`);
    const claimed = readdirSync(faultDir).filter((f) => /^(hang|flood)\.\d+$/.test(f));
    row.note = [detail, ...(claimed.length ? [`agent runs that took the fault: ${claimed.length}`] : []), ...(settled !== 'settled' ? [settled === 'stalled' ? `no progress for ${STALL_MS / 1000} s` : 'orch serve died']: [])].join('; ');
    keep ||= rowFailed(row);
  } catch (err) {
    row.error = (err as Error).message.split('\n')[0].slice(0, 300);
    say(`${s.name}: ERROR ${(err as Error).stack ?? err}`);
    keep = true;
  } finally {
    onInterrupt = undefined;
    watch.stop();
    api?.close();
    await fleet?.stop(keep).catch((err) => say(`${s.name}: teardown: ${(err as Error).message}`));
    await proxy?.stop();
    if (keep) say(`${s.name}: kept ${dir} and the fleet's homes for inspection`);
    else rmSync(dir, { recursive: true, force: true });
  }
  return row;
}

/** What ^C or SIGTERM must stop besides the PostgreSQL server: the running scenario's fleet. */
let onInterrupt: (() => Promise<void>) | undefined;

async function main(): Promise<number> {
  const o = parseChaosArgs(process.argv.slice(2), FAULTS);
  if (!natsServerAvailable()) throw new Error('nats-server is not installed (apt-get install nats-server)');
  const scenarios = SCENARIOS.filter((s) => !o.only || o.only.includes(s.name));
  const t0 = Date.now();
  const pg = await startPostgresServer();
  const stopPg = () => { try { process.kill(pg.pid, 'SIGQUIT'); } catch { /* gone */ } };
  process.once('exit', stopPg);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      say(`${sig}: stopping the fleet`);
      void (onInterrupt?.() ?? Promise.resolve()).catch(() => undefined).then(() => pg.stop()).finally(() => process.exit(130));
    });
  }
  const rows: ChaosRow[] = [];
  try {
    for (const s of scenarios) {
      say(`${s.name}: fresh fleet (${NODES} nodes x ${SLOTS} slots, ${o.tasks} tasks, agent ${AGENT_SECONDS} s)`);
      const row = await runScenario(s, o, pg);
      rows.push(row);
      process.stdout.write(formatTable([row]).split('\n').slice(2).join('\n'));
    }
  } finally {
    await pg.stop();
    process.off('exit', stopPg);
  }
  process.stdout.write(`\n${formatTable(rows)}${rows.map((r) => `  ${r.fault}: ${r.note ?? r.error ?? ''}\n`).join('')}${o.tasks} tasks per fault, ${NODES} nodes x ${SLOTS} slots, ${((Date.now() - t0) / 1000).toFixed(0)} s in all\n`);
  return exitCode(rows);
}

main().then((code) => process.exit(code), (err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
});
