// The faults `npm run chaos` injects, one per scenario, each on a fresh fleet.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Fleet, FleetOptions } from '../harness/fleet.js';
import type { PostgresServer } from '../harness/postgres.js';
import type { RunWatch } from '../harness/run-watch.js';
import type { TcpProxy } from '../harness/tcp-proxy.js';
import { waitFor } from '../harness/wait.js';

export interface FaultContext {
  fleet: Fleet;
  pg: PostgresServer;
  /** The proxy between node1 and nats-server (scenarios with natsProxy). */
  proxy?: TcpProxy;
  watch: RunWatch;
  /** Files here arm the agent's own faults (see instantAgent's faultDir). */
  faultDir: string;
  /** Node heartbeat timeout of the chaos fleet, s. */
  nodeTtlSeconds: number;
}

export interface Scenario {
  name: string;
  what: string;
  fleet?: Pick<FleetOptions, 'standby'>;
  /** workflow.timeout_seconds (default 120: longer than any fault, so it never stops an orphan in their place). */
  timeoutSeconds?: number;
  /** Put a TCP proxy between node1 and nats-server. */
  natsProxy?: boolean;
  /** Extra condition for injecting (beyond a quarter done and attempts running). */
  due?(c: FaultContext): boolean;
  /** Inject the fault; resolves when it is over (the restarted part is back). Returns what was done. */
  inject(c: FaultContext): Promise<string>;
}

/** A node that runs an attempt right now (the one running most). */
function busiestNode(c: FaultContext): string {
  const count = new Map<string, number>();
  for (const r of c.watch.running()) count.set(r.node, (count.get(r.node) ?? 0) + 1);
  const best = [...count].sort((a, b) => b[1] - a[1])[0];
  if (!best) throw new Error('no attempt was running when the fault was due');
  return best[0];
}

const coordinatorRestart = (signal: NodeJS.Signals): Scenario['inject'] => async (c) => {
  await c.fleet.restartCoordinator(signal);
  return `${signal} of orch serve, started again`;
};

/** Stop the leader; the standby must take over (answer on its address); then the old leader returns as standby. */
const failover = (signal: NodeJS.Signals): Scenario['inject'] => async (c) => {
  const f = c.fleet;
  await f.coordinator.stop(f.coordinatorProc, signal);
  const t0 = Date.now();
  const standby = f.addressList[1];
  await waitFor(() => f.answers(standby), { timeoutMs: 90_000, intervalMs: 200, what: `the standby at ${standby} to take over` });
  const takeover = Date.now() - t0;
  await f.rejoinAsStandby();
  return `${signal} of the leader; standby answered after ${(takeover / 1000).toFixed(1)} s; old leader back as standby`;
};

export const SCENARIOS: Scenario[] = [
  {
    name: 'node-kill9',
    what: 'kill -9 of an agent-node running attempts (not restarted; its tmux sessions live on, their runs held until the tasks start elsewhere)',
    inject: async (c) => {
      const victim = c.fleet.nodes.find((n) => n.name === busiestNode(c))!;
      const orphans = c.watch.running().filter((r) => r.node === victim.name);
      // Its runs keep working until their tasks started elsewhere: an orphan that was not
      // stopped (self-fenced) by then runs at the same time as its task's next attempt.
      const hold = join(c.faultDir, `hold-${victim.name}`);
      writeFileSync(hold, '');
      victim.proc.kill('SIGKILL');
      const movedOn = await waitFor(() => orphans.every((o) => c.watch.runs().some((r) => r.task === o.task && r.start > o.start)),
        { timeoutMs: 60_000, intervalMs: 200, what: 'the victim\'s tasks to start again' }).catch(() => false);
      rmSync(hold);
      return `killed ${victim.name} (pid ${victim.proc.pid}) running tasks ${orphans.map((o) => o.task).join(', ')}; ${movedOn ? 'they started again elsewhere' : 'they had not started again 60 s later'}`;
    },
  },
  { name: 'coord-term', what: 'SIGTERM of the coordinator, then start it again', inject: coordinatorRestart('SIGTERM') },
  { name: 'coord-kill9', what: 'kill -9 of the coordinator, then start it again', inject: coordinatorRestart('SIGKILL') },
  { name: 'standby-term', what: 'SIGTERM of the leading coordinator with a standby; the old leader returns as standby', fleet: { standby: true }, inject: failover('SIGTERM') },
  { name: 'standby-kill9', what: 'kill -9 of the leading coordinator with a standby; the old leader returns as standby', fleet: { standby: true }, inject: failover('SIGKILL') },
  {
    name: 'nats-restart',
    what: 'restart of nats-server (same port and JetStream store)',
    inject: async (c) => { await c.fleet.nats.restart(); return 'nats-server restarted'; },
  },
  {
    name: 'pg-restart',
    what: 'restart of the PostgreSQL server (fast shutdown, 3 s down, same port and data)',
    inject: async (c) => { await c.pg.restart(3_000); return `PostgreSQL restarted (pid ${c.pg.pid})`; },
  },
  {
    name: 'node-partition',
    what: 'node1 cut off from NATS (its connections dropped, new ones refused) for node timeout + 10 s, its runs held meanwhile; gRPC stays up',
    natsProxy: true,
    due: (c) => c.watch.running().some((r) => r.node === 'node1'),
    inject: async (c) => {
      const seconds = c.nodeTtlSeconds + 10;
      const hold = join(c.faultDir, 'hold-node1'); // node1's runs outlast the partition
      writeFileSync(hold, '');
      c.proxy!.partition();
      await sleep(seconds * 1000); // the partition's length, not a wait for a condition
      c.proxy!.heal();
      rmSync(hold);
      return `node1 partitioned from NATS for ${seconds} s`;
    },
  },
  {
    name: 'agent-hang',
    what: 'the next 3 agent runs hang silently past workflow.timeout_seconds (12 s)',
    timeoutSeconds: 12,
    inject: async (c) => { writeFileSync(join(c.faultDir, 'hang'), ''); return 'armed 3 silent hangs'; },
  },
  {
    name: 'agent-flood',
    what: 'the next 3 agent runs print 30 MB of output each',
    inject: async (c) => { writeFileSync(join(c.faultDir, 'flood'), ''); return 'armed 3 floods of 30 MB'; },
  },
];

export const FAULTS = SCENARIOS.map((s) => s.name);
