// `npm run bench`: dispatch latency (task added -> agent process started on a node)
// and sustained throughput for 500 tasks over 3 agent-nodes with an instant agent,
// plus peak RSS of the coordinator and a node. Real processes: nats-server, `orch
// serve` (fleet mode, embedded PostgreSQL), three `orch node start`.
import { credentials } from '@grpc/grpc-js';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinatorClient, type ListTasksResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { Task } from '../../proto/gen/orch/v1/types.js';
import { tokenMetadata } from '../../runtime/grpc-auth.js';
import { Fleet } from '../harness/fleet.js';
import { makeRepo } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 500);
const NODES = 3;
const SLOTS = Number(process.env.BENCH_SLOTS ?? 8);

function peakRssMb(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = s.match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
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
  try {
    await fleet.start();
    const repo = await makeRepo(scratch);
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    if (add.code !== 0) throw new Error(add.stderr);
    const client = new CoordinatorClient(fleet.address, credentials.createInsecure());
    const md = tokenMetadata(fleet.token);
    const call = <Req, Res>(m: string, req: Req) => new Promise<Res>((res, rej) =>
      (client as unknown as Record<string, (r: Req, md: unknown, cb: (e: Error | null, r: Res) => void) => void>)[m].call(client, req, md, (e, r) => (e ? rej(e) : res(r))));

    const addedAt = new Map<number, bigint>();
    const t0 = process.hrtime.bigint();
    const wallStart = BigInt(Date.now()) * 1_000_000n;
    const toNs = (hr: bigint) => wallStart + (hr - t0);
    // Add tasks with bounded concurrency, as a busy team (or a GitHub sync) would.
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < TASKS) {
        const i = next++;
        const at = process.hrtime.bigint();
        const t = await call<object, Task>('addTask', { title: `bench ${i}`, body: '', agent: 'instant', complexity: '', labels: [], project: '' });
        addedAt.set(t.id, toNs(at));
      }
    }));
    await waitFor(async () => {
      const { tasks } = await call<object, ListTasksResponse>('listTasks', { status: 'done', project: '' });
      return tasks.length >= TASKS;
    }, { timeoutMs: 600_000, intervalMs: 200, what: `${TASKS} tasks to finish` });
    const tEnd = process.hrtime.bigint();
    const starts = new Map<number, bigint>();
    for (const l of readFileSync(runsFile, 'utf8').split('\n').filter(Boolean)) {
      const [id, ns] = l.split(' ');
      if (!starts.has(Number(id))) starts.set(Number(id), BigInt(ns));
    }
    const lat = [...addedAt].filter(([id]) => starts.has(id)).map(([id, at]) => Number(starts.get(id)! - at) / 1e6);
    const secs = Number(tEnd - t0) / 1e9;
    const coordRss = peakRssMb(fleet.coordinatorProc.pid!);
    const nodeRss = Math.max(...fleet.nodes.map((n) => peakRssMb(n.proc.pid!)));
    const rows: Array<[string, string]> = [
      ['tasks', `${TASKS} over ${NODES} nodes x ${SLOTS} slots (instant agent)`],
      ['dispatch latency p50', `${pct(lat, 50).toFixed(1)} ms`],
      ['dispatch latency p99', `${pct(lat, 99).toFixed(1)} ms`],
      ['dispatch latency max', `${Math.max(...lat).toFixed(1)} ms`],
      ['sustained throughput', `${(TASKS / secs).toFixed(1)} tasks/s (${secs.toFixed(1)} s, add to last done)`],
      ['coordinator peak RSS', `${coordRss.toFixed(0)} MB`],
      ['node peak RSS (max of 3)', `${nodeRss.toFixed(0)} MB`],
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(`\n${'metric'.padEnd(w)}  value\n${'-'.repeat(w)}  ${'-'.repeat(40)}\n`);
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
    client.close();
  } finally {
    await fleet.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
    if (!existsSync(scratch)) return;
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
