// A fleet on one machine: a real nats-server, a coordinator in fleet mode
// (`orch serve --nats-url`, embedded PostgreSQL, ORCH_TEST_DATABASE_URL or a given
// database URL), optionally a standby coordinator on the same database and NATS, and
// `orch node start` processes, each with its own ORCH_HOME and tmux socket.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  /** The NATS URL it connects to (the fleet's, or a proxy in front of it). */
  natsUrl?: string;
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
  /** Extra environment for the coordinator and node processes (e.g. OTEL_* variables). */
  processEnv?: NodeJS.ProcessEnv;
  /** Start a standby coordinator before the nodes (they and the CLI get both addresses). */
  standby?: boolean;
  /** Agents only in the nodes' configs (as in a real fleet): the coordinator routes from what nodes report. */
  agentsOnNodesOnly?: boolean;
  /** The coordinator's database on a server the test owns (default: embedded, or databaseServer). */
  databaseUrl?: string;
  /** The `workflow:` section (default max_attempts 3, timeout_seconds 120). */
  workflowYaml?: string;
  /**
   * No secret in any ORCH_HOME: the token reaches processes through ORCH_TOKEN_FILE (a file
   * outside every home), the NATS password and `env` (extra variables for the processes,
   * e.g. an agent key a config expands with ${VAR}) through the environment.
   */
  secretsOutsideHomes?: { natsPassword: string; env?: NodeJS.ProcessEnv };
  /** The NATS URL node i (1-based) connects to, e.g. a proxy; default the fleet's. */
  natsUrlFor?: (i: number, natsUrl: string) => string;
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
      `nats:\n  url: ${this.nats.url}${this.o.secretsOutsideHomes ? '\n  user: orch\n  password: ${ORCH_TEST_NATS_PASSWORD}' : ''}`,
      `cluster:\n${this.o.secretsOutsideHomes ? '' : `  token: ${this.secret}\n`}  heartbeat_seconds: 0.5\n  node_timeout_seconds: ${this.o.nodeTtlSeconds ?? 3}${(this.o.clusterYaml ?? []).map((l) => `\n  ${l}`).join('')}`,
      this.o.workflowYaml ?? 'workflow:\n  max_attempts: 3\n  timeout_seconds: 120',
      forNode || !this.o.agentsOnNodesOnly ? this.o.agentsYaml : '',
      this.o.extraYaml ?? '',
    ].join('\n') + '\n';
  }

  /** A coordinator config: the shared database (when external) and a fixed port, so restarts keep their address. */
  private coordinatorYaml(port: number): string {
    const dbUrl = this.o.databaseUrl ?? this.db?.url;
    return this.baseYaml(false) + (dbUrl ? `database:\n  url: ${dbUrl}\n` : '') + `server:\n  listen: ${this.o.network?.hostIp ?? '127.0.0.1'}:${port}\n`;
  }

  /** Every coordinator address the nodes and CLIs are given (leader and standby). */
  get addresses(): string {
    return [this.address, this.standby?.address].filter(Boolean).join(',');
  }

  async start(): Promise<void> {
    const outside = this.o.secretsOutsideHomes;
    if (outside) {
      this.secretsDir = mkdtempSync(join(tmpdir(), 'orch-fleet-secrets-'));
      writeFileSync(this.tokenFile, this.secret + '\n', { mode: 0o600 });
    }
    this.nats = await startNatsServer({ jetstream: true, host: this.o.network?.hostIp, ...(outside ? { user: 'orch', password: outside.natsPassword } : {}) });
    this.coordinator = new OrchHome('orch-fleet-coord-');
    // With ORCH_TEST_DATABASE_URL the coordinator runs on that server (a fresh database of its own).
    if (!this.o.databaseUrl && (process.env.ORCH_TEST_DATABASE_URL || this.o.databaseServer)) this.db = await startTestDatabase();
    this.coordinator.writeConfig(this.coordinatorYaml(await freePort()));
    this.coordinatorProc = await this.coordinator.serve([], { ...this.o.processEnv, ...this.cliEnv(), ...this.tokenEnv() });
    // The fleet serves TLS only: nodes and CLIs get the join token, as a user gives them.
    const printed = await this.coordinator.run(['cluster', 'token'], { env: { ...this.tokenEnv(), ...this.secretEnv() } });
    if (printed.code !== 0) throw new Error(`orch cluster token exited ${printed.code}: ${printed.stderr}`);
    this.joinToken = printed.stdout.trim();
    if (this.o.secretsOutsideHomes) writeFileSync(this.tokenFile, this.joinToken + '\n', { mode: 0o600 });
    const st = await this.coordinator.json<{ listen: string }>(['status'], { env: { ORCH_TOKEN: this.token } });
    this.address = st.listen;
    if (this.o.standby) await this.startStandby();
    for (let i = 1; i <= this.o.nodes; i++) await this.addNode(`node${i}`);
  }

  /** What `orch cluster token` printed: `orch1.<CA fingerprint>.<secret>`. */
  joinToken = '';

  /** The cluster's secret (in every config's cluster.token). */
  get secret(): string { return this.o.token ?? 'test-cluster-token-123456'; }

  /** With secretsOutsideHomes: a directory of no ORCH_HOME's, holding the token file. */
  private secretsDir = '';
  get tokenFile(): string { return join(this.secretsDir, 'token'); }

  /**
   * How a coordinator or node process gets the token: in ORCH_TOKEN, or (secretsOutsideHomes)
   * in the file ORCH_TOKEN_FILE names (the secret first, the join token once printed).
   */
  tokenEnv(): NodeJS.ProcessEnv {
    return this.o.secretsOutsideHomes ? { ...this.secretEnv(), ORCH_TOKEN_FILE: this.tokenFile } : { ORCH_TOKEN: this.token };
  }

  /** The variables configs expand secrets from (secretsOutsideHomes). */
  secretEnv(): NodeJS.ProcessEnv {
    return this.o.secretsOutsideHomes ? { ORCH_TEST_NATS_PASSWORD: this.o.secretsOutsideHomes.natsPassword, ...this.o.secretsOutsideHomes.env } : {};
  }

  /** What processes are given in ORCH_TOKEN: the join token once the coordinator made its CA. */
  get token(): string { return this.joinToken || this.secret; }

  cliEnv(): NodeJS.ProcessEnv {
    return { ORCH_TOKEN: this.token, ...this.secretEnv(), ...(this.standby ? { ORCH_COORDINATOR: this.addresses } : {}) };
  }

  /** Stop the coordinator (SIGTERM: graceful; SIGKILL: a crash) and start it again on the same home and port. */
  async restartCoordinator(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.coordinator.stop(this.coordinatorProc, signal);
    if (!this.standby) {
      this.coordinatorProc = await this.coordinator.serve([], this.tokenEnv());
      return;
    }
    // With a standby, the restarted coordinator may come back as the standby: wait for either.
    const before = this.coordinator.logOf('serve').length;
    const p = this.coordinator.spawn(['serve'], 'serve', this.tokenEnv());
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
    const proc = home.spawn(['serve'], 'serve', this.tokenEnv());
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`standby exited ${proc.exitCode}:\n${home.logOf('serve').slice(-3000)}`);
      return /standing by|standby/.test(home.logOf('serve'));
    }, { timeoutMs: 60_000, what: 'the standby to stand by' });
    this.standby = { home, proc, address: `${this.o.network?.hostIp ?? '127.0.0.1'}:${port}` };
  }

  /** Every coordinator address, leader first. */
  get addressList(): string[] {
    return this.addresses.split(',');
  }

  /** Whether a coordinator answers `orch status` at address. */
  async answers(address: string): Promise<boolean> {
    return (await this.coordinator.run(['status'], { env: { ORCH_TOKEN: this.token, ORCH_COORDINATOR: address }, timeoutMs: 10_000 })).code === 0;
  }

  /**
   * Start the first coordinator again, after its standby took over: it must stand by
   * (say so in its log) and not answer on its address while the other one leads.
   */
  async rejoinAsStandby(): Promise<void> {
    const home = this.coordinator;
    const from = home.logOf('serve').length; // the log is appended to across restarts
    const proc = home.spawn(['serve'], 'serve', this.tokenEnv());
    this.coordinatorProc = proc;
    let serving = false;
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`orch serve exited ${proc.exitCode}:\n${home.logOf('serve').slice(-3000)}`);
      if (/standing by|standby/.test(home.logOf('serve').slice(from))) return true;
      serving = await this.answers(this.address);
      return serving;
    }, { timeoutMs: 60_000, intervalMs: 200, what: 'the old leader to stand by' });
    if (serving) throw new Error(`the old leader answers at ${this.address} while the standby leads (two leaders)`);
  }

  async addNode(name: string, slots = this.o.slots): Promise<FleetNode> {
    const home = new OrchHome(`orch-fleet-${name}-`);
    home.writeConfig(this.baseYaml() + `tmux:\n  socket: ${home.tmuxSocket}\nnode:\n  name: ${name}\n  slots: ${slots}\n`);
    mkdirSync(join(home.home, 'state'), { recursive: true });
    const host = this.o.network ? this.nodes.length % this.o.network.hosts.length : undefined;
    const natsUrl = this.o.natsUrlFor?.(this.nodes.length + 1, this.nats.url) ?? this.nats.url;
    const proc = this.spawnNode({ name, home, slots, host, natsUrl });
    const n: FleetNode = { name, home, proc, slots, host, natsUrl };
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
    return n.home.spawn(['node', 'start', '--coordinator', this.addresses, '--nats', n.natsUrl ?? this.nats.url, '--slots', String(n.slots), '--name', n.name], 'node', { ...this.o.processEnv, ...this.tokenEnv() }, wrap);
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
    if (this.secretsDir) rmSync(this.secretsDir, { recursive: true, force: true });
  }
}

export interface AgentOptions {
  /** How long it works, printing a line every 0.1 s. */
  sleepSeconds?: number;
  /** Script file name in dir. */
  file?: string;
  /** It works until this file exists. */
  gateFile?: string;
  /**
   * Faults armed by the creation of files in this directory: `hang` (the next 3 runs
   * sleep silently forever, without an end record) and `flood` (the next 3 runs print
   * 30 MB before their work); each run claims one by an atomic mkdir. While `hold-NODE`
   * exists, runs on NODE keep working after their work is done.
   */
  faultDir?: string;
}

/**
 * A command agent that records its runs and writes a file naming task and attempt.
 * Each run appends `NODE TASK ATTEMPT start|end NANOSECONDS PID` to runsFile (PID is
 * the agent's own process: a run with no end record ran until that process was gone),
 * writes task-ID.txt = `task ID attempt N` (committed by orch) and answers done.
 */
export function instantAgent(dir: string, runsFile: string, opts: AgentOptions | number = {}, file?: string, gateFile?: string): string {
  const o: AgentOptions = typeof opts === 'number' ? { sleepSeconds: opts, file, gateFile } : opts;
  const sleepSeconds = o.sleepSeconds ?? 0;
  const script = join(dir, o.file ?? 'instant-agent.sh');
  const runs = JSON.stringify(runsFile);
  const record = (kind: string) => `echo "$ORCH_NODE $ORCH_TASK_ID $ORCH_ATTEMPT ${kind} $(date +%s%N) $$" >> ${runs}`;
  const fault = (name: string, body: string[]) => o.faultDir ? [
    `if [ -f ${JSON.stringify(join(o.faultDir, name))} ]; then for i in 1 2 3; do`,
    `  if mkdir ${JSON.stringify(join(o.faultDir, `${name}.`))}"$i" 2>/dev/null; then`,
    ...body.map((l) => `    ${l}`),
    '    break',
    '  fi',
    'done; fi',
  ] : [];
  writeFileSync(script, [
    '#!/bin/bash',
    record('start'),
    ...fault('hang', ['exec sleep 100000']),
    ...fault('flood', ['yes "flood $ORCH_TASK_ID: 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz" | head -c 31457280']),
    // A gated agent works until the test opens its gate.
    ...(o.gateFile ? [`while [ ! -f ${JSON.stringify(o.gateFile)} ]; do sleep 0.05; done`] : []),
    'echo "task $ORCH_TASK_ID attempt $ORCH_ATTEMPT" > "task-$ORCH_TASK_ID.txt"',
    `for i in $(seq 1 ${Math.max(1, Math.round(sleepSeconds * 10))}); do echo "working $i"; sleep ${sleepSeconds > 0 ? 0.1 : 0}; done`,
    // A held node's runs go on working until the hold is lifted (they outlive a fault on their node).
    ...(o.faultDir ? [`while [ -f ${JSON.stringify(join(o.faultDir, 'hold-'))}"$ORCH_NODE" ]; do echo "held"; sleep 0.1; done`] : []),
    record('end'),
    `echo '{"status":"done","summary":"instant agent wrote task-'"$ORCH_TASK_ID"'.txt"}'`,
  ].join('\n') + '\n', { mode: 0o755 });
  return script;
}
