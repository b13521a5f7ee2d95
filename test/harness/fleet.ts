// A fleet on one machine: a real nats-server, a coordinator in fleet mode
// (`orch serve --nats-url`, embedded PostgreSQL or ORCH_TEST_DATABASE_URL) and
// `orch node start` processes, each with its own ORCH_HOME and tmux socket.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startNatsServer } from './nats-server.js';
import type { TestNetwork } from './netns.js';
import { startTestDatabase, type TestDatabase } from './postgres.js';
import { OrchHome } from './orch.js';
import { waitFor } from './wait.js';

export interface FleetNode {
  name: string;
  home: OrchHome;
  proc: ChildProcess;
  slots: number;
  /** Index of its network namespace, when the fleet has a network. */
  host?: number;
}

export interface FleetOptions {
  nodes: number;
  slots: number;
  /** YAML for the `agents:` section, shared by every node. */
  agentsYaml: string;
  token?: string;
  nodeTtlSeconds?: number;
  /** Run each node in its own network namespace (its own address), coordinator and NATS on the bridge. */
  network?: TestNetwork;
  /** Extra YAML for every config (coordinator and nodes). */
  extraYaml?: string;
  /** Extra `cluster:` keys, e.g. `restart_grace_seconds: 30`. */
  clusterYaml?: string[];
  /** Run the coordinator on a PostgreSQL server of the test's (needed for a standby), not its embedded one. */
  databaseServer?: boolean;
  /** Start a standby coordinator before the nodes (they and the CLI get both addresses). */
  standby?: boolean;
  /** Agents only in the nodes' configs (as in a real fleet): the coordinator routes from what nodes report. */
  agentsOnNodesOnly?: boolean;
}

export class Fleet {
  nats!: Awaited<ReturnType<typeof startNatsServer>>;
  coordinator!: OrchHome;
  coordinatorProc!: ChildProcess;
  address = '';
  nodes: FleetNode[] = [];
  db: TestDatabase | undefined;
  /** A second coordinator on the same database and NATS, when started (startStandby). */
  standby: { home: OrchHome; proc: ChildProcess; address: string } | undefined;

  constructor(readonly o: FleetOptions) {}

  private baseYaml(forNode = true): string {
    return [
      `nats:\n  url: ${this.nats.url}`,
      `cluster:\n  token: ${this.o.token ?? 'test-cluster-token-123456'}\n  heartbeat_seconds: 0.5\n  node_timeout_seconds: ${this.o.nodeTtlSeconds ?? 3}${(this.o.clusterYaml ?? []).map((l) => `\n  ${l}`).join('')}`,
      'workflow:\n  max_attempts: 3\n  timeout_seconds: 120',
      forNode || !this.o.agentsOnNodesOnly ? this.o.agentsYaml : '',
      this.o.extraYaml ?? '',
    ].join('\n') + '\n';
  }

  /** A coordinator config: the shared database (when external) and a fixed port, so restarts keep their address. */
  private coordinatorYaml(port: number): string {
    const dbUrl = this.db?.url;
    return this.baseYaml(false) + (dbUrl ? `database:\n  url: ${dbUrl}\n` : '') + `server:\n  listen: ${this.o.network?.hostIp ?? '127.0.0.1'}:${port}\n`;
  }

  /** Every coordinator address the nodes and CLIs are given (leader and standby). */
  get addresses(): string {
    return [this.address, this.standby?.address].filter(Boolean).join(',');
  }

  async start(): Promise<void> {
    this.nats = await startNatsServer({ jetstream: true, host: this.o.network?.hostIp });
    this.coordinator = new OrchHome('orch-fleet-coord-');
    // With ORCH_TEST_DATABASE_URL the coordinator runs on that server (a fresh database of its own).
    if (process.env.ORCH_TEST_DATABASE_URL || this.o.databaseServer) this.db = await startTestDatabase();
    this.coordinator.writeConfig(this.coordinatorYaml(await freePort()));
    this.coordinatorProc = await this.coordinator.serve([], this.cliEnv());
    const st = await this.coordinator.json<{ listen: string }>(['status'], { env: { ORCH_TOKEN: this.token } });
    this.address = st.listen;
    if (this.o.standby) await this.startStandby();
    for (let i = 1; i <= this.o.nodes; i++) await this.addNode(`node${i}`);
  }

  get token(): string { return this.o.token ?? 'test-cluster-token-123456'; }

  cliEnv(): NodeJS.ProcessEnv {
    return { ORCH_TOKEN: this.token, ...(this.standby ? { ORCH_COORDINATOR: this.addresses } : {}) };
  }

  /** Stop the coordinator (SIGTERM: graceful; SIGKILL: a crash) and start it again on the same home and port. */
  async restartCoordinator(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.coordinator.stop(this.coordinatorProc, signal);
    if (!this.standby) {
      this.coordinatorProc = await this.coordinator.serve([], { ORCH_TOKEN: this.token });
      return;
    }
    // With a standby, the restarted coordinator may come back as the standby: wait for either.
    const before = this.coordinator.logOf('serve').length;
    const p = this.coordinator.spawn(['serve'], 'serve', { ORCH_TOKEN: this.token });
    await waitFor(() => {
      if (p.exitCode !== null) throw new Error(`orch serve exited ${p.exitCode}:\n${this.coordinator.logOf('serve').slice(-3000)}`);
      return /listening on|standing by/.test(this.coordinator.logOf('serve').slice(before));
    }, { timeoutMs: 90_000, what: 'the restarted coordinator to lead or stand by' });
    this.coordinatorProc = p;
  }

  /** The process of whichever coordinator leads now, and the other one's address. */
  async leader(): Promise<{ proc: ChildProcess; other: string }> {
    const st = await this.coordinator.json<{ listen: string }>(['status'], { env: this.cliEnv() });
    return st.listen === this.standby?.address
      ? { proc: this.standby.proc, other: this.address }
      : { proc: this.coordinatorProc, other: this.standby?.address ?? '' };
  }

  /**
   * A standby: a second `orch serve` with its own home on the same database and NATS
   * (the database must be a server: ORCH_TEST_DATABASE_URL or startTestDatabase's cluster).
   */
  async startStandby(): Promise<void> {
    const home = new OrchHome('orch-fleet-standby-');
    const port = await freePort();
    home.writeConfig(this.coordinatorYaml(port));
    const proc = home.spawn(['serve'], 'serve', { ORCH_TOKEN: this.token });
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`standby exited ${proc.exitCode}:\n${home.logOf('serve').slice(-3000)}`);
      return /standing by|standby/.test(home.logOf('serve'));
    }, { timeoutMs: 60_000, what: 'the standby to stand by' });
    this.standby = { home, proc, address: `${this.o.network?.hostIp ?? '127.0.0.1'}:${port}` };
  }

  async addNode(name: string, slots = this.o.slots): Promise<FleetNode> {
    const home = new OrchHome(`orch-fleet-${name}-`);
    home.writeConfig(this.baseYaml() + `tmux:\n  socket: ${home.tmuxSocket}\nnode:\n  name: ${name}\n  slots: ${slots}\n`);
    mkdirSync(join(home.home, 'state'), { recursive: true });
    const host = this.o.network ? this.nodes.length % this.o.network.hosts.length : undefined;
    const proc = this.spawnNode({ name, home, slots, host });
    const n: FleetNode = { name, home, proc, slots, host };
    this.nodes.push(n);
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`node ${name} exited ${proc.exitCode}:\n${home.logOf('node').slice(-2000)}`);
      const nodes = await this.coordinator.json<Array<{ name: string; state: string }>>(['node', 'list'], { env: this.cliEnv() });
      return nodes.some((x) => x.name === name && x.state === 'up');
    }, { timeoutMs: 30_000, what: `node ${name} to register` });
    return n;
  }

  /** `orch node start` for n, in its network namespace when the fleet has one. */
  private spawnNode(n: Omit<FleetNode, 'proc'>): ChildProcess {
    const wrap = this.o.network && n.host !== undefined ? this.o.network.exec(n.host) : [];
    return n.home.spawn(['node', 'start', '--coordinator', this.addresses, '--nats', this.nats.url, '--slots', String(n.slots), '--name', n.name], 'node', { ORCH_TOKEN: this.token }, wrap);
  }

  async restartNode(n: FleetNode): Promise<void> {
    n.proc = this.spawnNode(n);
  }

  async stop(keep = false): Promise<void> {
    for (const n of this.nodes) await n.home.cleanup(keep);
    await this.standby?.home.cleanup(keep);
    await this.coordinator?.cleanup(keep);
    await this.nats?.stop();
    await this.db?.stop();
  }
}

/** A command agent that records when it ran where, writes a file named after the task and answers done. */
export function instantAgent(dir: string, runsFile: string, sleepSeconds = 0, file = 'instant-agent.sh', gateFile?: string): string {
  const script = join(dir, file);
  writeFileSync(script, [
    '#!/bin/bash',
    `echo "$ORCH_NODE $ORCH_TASK_ID $ORCH_ATTEMPT start $(date +%s%N)" >> ${JSON.stringify(runsFile)}`,
    // A gated agent works until the test opens its gate.
    ...(gateFile ? [`while [ ! -f ${JSON.stringify(gateFile)} ]; do sleep 0.05; done`] : []),
    'echo "task $ORCH_TASK_ID" > "task-$ORCH_TASK_ID.txt"',
    `for i in $(seq 1 ${Math.max(1, Math.round(sleepSeconds * 10))}); do echo "working $i"; sleep ${sleepSeconds > 0 ? 0.1 : 0}; done`,
    `echo "$ORCH_NODE $ORCH_TASK_ID $ORCH_ATTEMPT end $(date +%s%N)" >> ${JSON.stringify(runsFile)}`,
    `echo '{"status":"done","summary":"instant agent wrote task-'"$ORCH_TASK_ID"'.txt"}'`,
  ].join('\n') + '\n', { mode: 0o755 });
  return script;
}
