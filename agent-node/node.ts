// AgentNode: registers with the coordinator (again whenever the coordinator does not
// know it), heartbeats over the bus and gRPC, renews the lease its sessions live on,
// pulls assignments only while it has free slots and is not drained, claims each
// attempt before its agent starts, answers control requests (kill), and after a
// restart finds the sessions it left in tmux and resumes them.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { Assignment, NodeInfo, type AgentInfo } from '../proto/gen/orch/v1/types.js';
import type { HeldAttempt } from '../proto/gen/orch/v1/node.js';
import type { Bus, Consumer, Delivery, KeyValue, Subscription } from '../runtime/bus/bus.js';
import { ControlRefused, ControlServer } from '../runtime/control-seal.js';
import { HeartbeatSealer } from '../runtime/heartbeat-seal.js';
import { ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS, HEARTBEAT_BUCKET, subjects } from '../runtime/bus/subjects.js';
import type { OrchConfig } from '../runtime/config/index.js';
import { logger } from '../runtime/log.js';
import { OrchPaths } from '../runtime/paths.js';
import { redact, registerSecret } from '../runtime/redact.js';
import { SpanKind, trace, type Context } from '@opentelemetry/api';
import { carrierOf, contextOf, tracer } from '../runtime/telemetry/index.js';
import { observeGauge } from '../runtime/telemetry/metrics.js';
import { adapterFor } from './agents/index.js';
import { loadPty, parseAttachRequest, runAttach } from './attach.js';
import { agentSpec, configuredAgents, configuredModels, resolveCommand } from './agents/spec.js';
import { status } from '@grpc/grpc-js';
import { BashJobRunner, isBashJobWire } from './bash-job.js';
import { AskRunner, isAskWire } from './ask.js';
import { GatewayClient } from './gateway-client.js';
import { joinCoordinator } from './enrol.js';
import type { ClientTls } from '../runtime/tls/channel.js';
import { Session, type SessionRecord } from './session.js';
import { readExit } from './runner.js';
import { dropStaleSpares } from './worktree.js';
import { Tmux } from './tmux.js';

const log = logger('node');
const TOOLS = ['git', 'tmux', 'node', 'npm', 'bun', 'cargo', 'go', 'python3', 'make', 'docker', 'gh'];

export interface AgentNodeOptions {
  home: string;
  name: string;
  slots: number;
  config: OrchConfig;
  coordinator: string;
  /** The cluster token or the join token (`orch cluster token`): with a join token the node enrols and uses mutual TLS. */
  token?: string;
  /** Set by start() from a join token (enrol.ts). */
  tls?: ClientTls;
  bus: Bus;
  labels?: string[];
  address?: string;
  heartbeatMs?: number;
  nodeTtlMs?: number;
  /** On SIGTERM, how long the coordinator keeps this node's running attempts for its next start. */
  restartGraceMs?: number;
  /** How long to keep trying to claim an attempt's start before giving the assignment back (default 60 s). */
  claimTimeoutMs?: number;
}

export class AgentNode {
  private sessions = new Map<string, Session>();
  private consumer: Consumer | undefined;
  private control: Subscription | undefined;
  private kv!: KeyValue;
  private hbTimer: NodeJS.Timeout | undefined;
  private agents: AgentInfo[] = [];
  private tools: string[] = [];
  private stopping = false;
  /** Why the coordinator wants no new work here (`orch node drain`), if it does. */
  private drained: string | undefined;
  private busDown = false;
  private beats = 0;
  private registering: Promise<void> | undefined;
  private stopConnWatch: (() => void) | undefined;
  private unobserve: (() => void) | undefined;
  /** Set on a graceful stop: the coordinator keeps our attempts this long. */
  private holdSeconds = 0;
  /** Why the coordinator refuses this node's certificate (revoked), if it does. */
  private refused: string | undefined;
  private bashJobs: BashJobRunner | undefined;
  private readonly asks: AskRunner;
  readonly paths: OrchPaths;
  readonly tmux: Tmux;
  readonly gateway: GatewayClient;
  /** Seals our heartbeats on the bus (signed with our enrolled key in a TLS fleet). */
  private readonly sealer: HeartbeatSealer;
  /** Acts only on the coordinator's sealed control requests in a TLS fleet; seals our replies. */
  private readonly controlServer: ControlServer;

  private constructor(private readonly o: AgentNodeOptions) {
    this.paths = new OrchPaths(o.home);
    this.tmux = new Tmux(o.config.tmux?.socket ?? 'orch');
    this.gateway = new GatewayClient(o.coordinator, o.token, o.tls);
    this.sealer = new HeartbeatSealer(o.tls);
    this.controlServer = new ControlServer(o.tls);
    this.asks = new AskRunner({ node: o.name, config: o.config, paths: this.paths, agents: () => this.agents.filter((a) => a.installed).map((a) => a.name) });
    for (const a of Object.values(o.config.agents ?? {})) for (const v of Object.values(a?.env ?? {})) registerSecret(v);
  }

  static async start(o: AgentNodeOptions): Promise<AgentNode> {
    const n = new AgentNode({ ...o, ...(await joinCoordinator(o)) });
    await n.begin();
    n.unobserve = observeGauge('orch.sessions.active', { unit: '{session}', description: 'Agent sessions running on a node' },
      (observe) => observe(n.sessions.size, { 'orch.node': o.name, 'orch.node.slots': o.slots }));
    return n;
  }

  get running(): number { return this.sessions.size; }

  private async detect(): Promise<void> {
    this.agents = await Promise.all(configuredAgents(this.o.config).map(async (name): Promise<AgentInfo> => {
      const spec = agentSpec(name, this.o.config);
      const path = resolveCommand(spec.command);
      const version = path ? await Promise.resolve().then(() => adapterFor(spec.kind).version(path)).catch(() => undefined) : undefined;
      return { name, kind: spec.kind, command: spec.command, installed: !!path, version: version ?? '', node: this.o.name, path: path ?? '', models: configuredModels(name, this.o.config) };
    }));
    this.tools = [...new Set([...TOOLS.filter((t) => resolveCommand(t)), ...(this.o.config.node?.tools ?? [])])];
  }

  info(): NodeInfo {
    return {
      name: this.o.name, address: this.o.address ?? '', slots: this.o.slots, running: this.sessions.size,
      agents: this.agents, tools: this.tools, os: platform(), arch: arch(), labels: this.o.labels ?? [],
      lastHeartbeat: new Date().toISOString(), state: this.stopping || this.drained ? 'draining' : 'up', version: '',
      held: [...this.sessions.keys()], holdSeconds: this.holdSeconds, busDown: this.busDown,
      drainReason: this.stopping ? 'the node is stopping' : this.drained ?? '',
    };
  }

  private get ttlMs(): number { return this.o.nodeTtlMs ?? 10_000; }

  /** Let our sessions run until `untilMs` (see OrchPaths.nodeLease). */
  private writeLease(untilMs: number): void {
    try {
      writeFileSync(this.paths.nodeLease, `${Math.floor(untilMs / 1000)}\n`);
    } catch (err) {
      log.warn('could not renew the node lease', { err });
    }
  }

  /**
   * Tell the coordinator who we are and what we hold; stop what it no longer wants.
   * Runs at start and whenever the coordinator says it does not know us (it restarted,
   * or it had marked us lost). Concurrent calls share one registration.
   */
  private register(): Promise<void> {
    this.registering ??= (async () => {
      try {
        const held: HeldAttempt[] = [...this.sessions.values()].map((x) => ({ taskId: x.a.taskId, attempt: x.a.attempt, token: x.a.token }));
        const reg = await this.gateway.register({ node: this.info(), held });
        this.drained = reg.state === 'draining' ? reg.drainReason || 'drained' : undefined;
        for (const h of reg.release) {
          const s = this.sessions.get(h.token);
          if (!s) continue;
          log.info('stopping a session the coordinator no longer wants', { task: h.taskId, attempt: h.attempt });
          await s.kill();
          this.forget(h.token);
        }
        this.writeLease(Date.now() + this.ttlMs);
        this.consumer?.wake();
      } finally {
        this.registering = undefined;
      }
    })();
    return this.registering;
  }

  private async begin(): Promise<void> {
    mkdirSync(this.paths.sessionsDir, { recursive: true });
    dropStaleSpares(this.paths.worktreesRoot);
    await this.detect();
    mkdirSync(this.paths.runDir, { recursive: true });
    for (const r of await this.findSurvivors()) {
      const s = new Session(r.assignment, this.sessionDeps(), r);
      if (!r.claimed) {
        // Its agent never started (we stopped before the coordinator accepted it): the
        // unacknowledged assignment comes back by itself.
        log.info('dropping a session whose start was never accepted', { task: r.assignment.taskId, attempt: r.assignment.attempt });
        await s.kill();
        this.forget(r.assignment.token);
        continue;
      }
      this.sessions.set(s.token, s);
    }
    await this.register();
    for (const s of this.sessions.values()) {
      log.info('resuming session left by a previous run', { task: s.a.taskId, attempt: s.a.attempt });
      void this.follow(s);
    }
    this.stopConnWatch = this.o.bus.onConnection((state) => { this.busDown = state === 'disconnected'; });
    this.kv = await this.o.bus.kv(HEARTBEAT_BUCKET, { ttlMs: this.ttlMs });
    await this.heartbeat();
    const every = this.o.heartbeatMs ?? 2_000;
    const beat = () => {
      // Jitter so a fleet does not heartbeat in lockstep.
      // Never wait for the previous put: one stuck in a NATS outage (up to its 10 s timeout)
      // must not hold back the beats that follow the reconnect.
      this.hbTimer = setTimeout(() => { void this.heartbeat(); if (!this.stopping) beat(); }, every * (0.8 + Math.random() * 0.4));
      this.hbTimer.unref();
    };
    beat();
    const subject = subjects.control(this.o.name);
    this.control = await this.o.bus.serve(subject, async (data) => {
      try {
        return await this.controlServer.serve(subject, data, (body) => this.onControl(body));
      } catch (err) {
        if (err instanceof ControlRefused) log.warn('control request refused', { err: err.message });
        throw err;
      }
    });
    const queue = await this.o.bus.workQueue(ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS);
    this.consumer = await queue.consume({
      durable: subjects.assignConsumer(this.o.name),
      filter: subjects.assign(this.o.name),
      capacity: () => (this.stopping || this.drained ? 0 : this.o.slots - this.sessions.size),
      ackWaitMs: 120_000,
      maxDeliver: 5,
      onMessage: (d) => this.onAssignment(d),
    });
    log.info('agent-node up', { node: this.o.name, slots: this.o.slots, agents: this.agents.filter((a) => a.installed).map((a) => a.name), resumed: this.sessions.size });
  }

  private sessionDeps() {
    return {
      node: this.o.name, paths: this.paths, config: this.o.config, tmux: this.tmux,
      uploadOutput: (chunks: Parameters<GatewayClient['upload']>[0]) => this.gateway.upload(chunks),
      checkLease: (a: Assignment) => this.gateway.checkLease({ taskId: a.taskId, attempt: a.attempt, token: a.token }, a.trace),
    };
  }

  private indexFile(token: string): string { return join(this.paths.sessionsDir, `${token}.json`); }

  private forget(token: string): void {
    this.sessions.delete(token);
    rmSync(this.indexFile(token), { force: true });
    this.consumer?.wake();
  }

  /** Attempts a previous run of this node launched and never reported. */
  private async findSurvivors(): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for (const f of readdirSync(this.paths.sessionsDir).filter((x) => x.endsWith('.json'))) {
      try {
        const { dir } = JSON.parse(readFileSync(join(this.paths.sessionsDir, f), 'utf8')) as { dir: string };
        const rec = JSON.parse(readFileSync(Session.recordFile(dir), 'utf8')) as SessionRecord;
        rec.assignment = Assignment.fromJSON(rec.assignment);
        out.push(rec);
      } catch (err) {
        log.warn('unreadable session record dropped', { file: f, err });
        rmSync(join(this.paths.sessionsDir, f), { force: true });
      }
    }
    return out;
  }

  /**
   * A heartbeat into the bus's KV bucket and, every third beat or when the bus fails,
   * over gRPC (which also tells us whether the coordinator knows us and wants us
   * drained). Either one arriving renews the lease our sessions live on.
   */
  private async heartbeat(): Promise<void> {
    this.beats += 1;
    const info = this.info();
    let reached = false;
    if (!this.busDown) {
      try {
        await this.kv.put(this.o.name, this.sealer.seal(info));
        reached = true;
      } catch (err) {
        log.warn('heartbeat over the bus failed', { err });
      }
    }
    if (!reached || this.beats % 3 === 0 || this.holdSeconds) {
      try {
        const ack = await this.gateway.heartbeat(info);
        reached = true;
        this.refused = undefined;
        const was = this.drained;
        this.drained = ack.state === 'draining' ? ack.drainReason || 'drained' : undefined;
        if (was && !this.drained) this.consumer?.wake();
        if (!ack.known && !this.stopping) void this.register().catch((err) => log.warn('re-register failed', { err }));
      } catch (err) {
        // Our certificate is refused (`orch node revoke`): our attempts are handed back
        // elsewhere, so our sessions must stop when their lease runs out.
        if ((err as { code?: number }).code === status.PERMISSION_DENIED) {
          if (!this.refused) log.error('the coordinator refuses this node; running sessions stop when their lease runs out', { err: (err as { details?: string }).details });
          this.refused = (err as { details?: string }).details ?? 'refused';
        } else if (!reached) log.warn('heartbeat over gRPC failed too', { err: (err as Error).message });
      }
    }
    if (reached && !this.refused && !this.stopping) this.writeLease(Date.now() + this.ttlMs);
  }

  private async onAssignment(d: Delivery): Promise<void> {
    let a: Assignment;
    try {
      a = Assignment.decode(d.data);
    } catch (err) {
      log.error('malformed assignment terminated', { err, subject: d.subject });
      await d.term('malformed assignment');
      return;
    }
    if (this.sessions.has(a.token) || existsSync(this.indexFile(a.token))) {
      await d.ack(); // a redelivery of something we already run
      return;
    }
    if (this.stopping || this.drained) {
      await d.nak(1_000); // give it back: we take no new work
      return;
    }
    const s = new Session(a, this.sessionDeps());
    this.sessions.set(a.token, s);
    // The CONSUMER side of the coordinator's publish: from receipt to the agent let go.
    const received = tracer().startSpan('orch.assign receive', {
      kind: SpanKind.CONSUMER, attributes: { 'orch.task': a.taskId, 'orch.attempt': a.attempt, 'orch.node': this.o.name, 'messaging.system': 'nats', 'messaging.operation.type': 'process' },
    }, contextOf(d.headers.traceparent ? d.headers : a.trace));
    try {
      await this.accept(d, a, s, trace.setSpan(contextOf(d.headers.traceparent ? d.headers : a.trace), received));
    } finally {
      received.end();
    }
  }

  /** prepare the session, claim the attempt, let the agent go (or give the assignment back). `ctx`: the receive span's. */
  private async accept(d: Delivery, a: Assignment, s: Session, ctx: Context): Promise<void> {
    try {
      await d.working();
      await s.launch(ctx);
      writeFileSync(this.indexFile(a.token), JSON.stringify({ dir: s.dir }));
    } catch (err) {
      s.failed(err);
      log.error('attempt could not start', { task: a.taskId, attempt: a.attempt, err });
      await d.ack();
      await this.reportStartFailure(s, err as Error);
      return;
    }
    // Claim the attempt before its agent runs: if the coordinator cannot be asked, or has
    // moved on, nothing of this attempt ever runs (no duplicate of a re-queued attempt).
    let ack: { accepted: boolean; reason: string };
    try {
      ack = await this.gateway.reportStarted({ taskId: a.taskId, attempt: a.attempt, token: a.token, node: this.o.name, session: s.name, dir: s.dir, worktree: s.worktree },
        this.o.claimTimeoutMs ?? 60_000, carrierOf(ctx));
    } catch (err) {
      log.warn('could not claim the attempt (coordinator unreachable); giving the assignment back', { task: a.taskId, attempt: a.attempt, err: (err as Error).message });
      s.failed(err);
      await s.kill();
      this.forget(a.token);
      await d.nak(5_000).catch(() => undefined);
      return;
    }
    if (!ack.accepted) {
      log.warn('coordinator refused the attempt; dropping it', { task: a.taskId, attempt: a.attempt, reason: ack.reason });
      s.failed(new Error(`the coordinator refused the attempt: ${ack.reason}`));
      await s.kill();
      this.forget(a.token);
      await d.term(ack.reason).catch(() => undefined);
      return;
    }
    await d.ack();
    try {
      await s.go();
    } catch (err) {
      s.failed(err);
      log.error('the agent could not be started', { task: a.taskId, attempt: a.attempt, err });
      await this.reportStartFailure(s, err as Error);
      return;
    }
    void this.follow(s);
  }

  private async reportStartFailure(s: Session, err: Error): Promise<void> {
    const { a } = s;
    const message = redact(err.message);
    await s.kill();
    await this.gateway.reportResult({
      taskId: a.taskId, attempt: a.attempt, token: a.token, node: this.o.name, outcome: 'error', answer: undefined,
      errorClass: /not found|ENOENT|command not found/i.test(message) ? 'MissingTool' : 'AgentFailed', errorMessage: message.slice(0, 500),
      exitCode: -1, durationMs: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, commit: '', pushed: false, stderrTail: '', dir: s.dir,
      cacheReadTokens: 0, cacheWriteTokens: 0, costSource: '', retryAfterSeconds: 0, sessionId: '', diff: '', changedFiles: [], model: a.model,
    }).catch((e) => log.error('could not report a failed start', { task: a.taskId, err: e }));
    this.forget(a.token);
  }

  /** Watch a session to its end and report the result (retrying until the coordinator answers). */
  private async follow(s: Session): Promise<void> {
    try {
      const result = await s.watch();
      if (this.stopping && result.errorClass === 'Killed') return;
      const ack = await this.gateway.reportResult(result, s.a.trace);
      if (!ack.accepted) log.warn('result refused', { task: s.a.taskId, attempt: s.a.attempt, reason: ack.reason });
      // A runner that wrote exit.txt has ended and its session closes by itself; only the others need a kill.
      if (readExit(s.dir) === undefined) await this.tmux.killSession(s.name).catch(() => undefined);
      this.forget(s.token);
    } catch (err) {
      if (this.stopping) return; // the next run of this node resumes it
      log.error('session follow-up failed', { task: s.a.taskId, err });
      this.forget(s.token);
    }
  }

  private async onControl(data: Uint8Array): Promise<Uint8Array> {
    let req: { op?: string; token?: string };
    try {
      req = JSON.parse(Buffer.from(data).toString('utf8')) as typeof req;
    } catch {
      throw new Error('malformed control request (not JSON)');
    }
    if (req.op === 'attach') return Buffer.from(JSON.stringify(await this.onAttach(req)));
    if (req.op === 'ask') {
      if (!isAskWire(req)) throw new Error('malformed ask request');
      if (this.stopping) throw new Error(`node ${this.o.name} is stopping`);
      return Buffer.from(JSON.stringify(await this.asks.run(req)));
    }
    if (req.op === 'bash_job') {
      if (!isBashJobWire(req)) throw new Error('malformed bash_job request');
      if (this.stopping) throw new Error(`node ${this.o.name} is stopping`);
      this.bashJobs ??= new BashJobRunner({ node: this.o.name, paths: this.paths });
      return Buffer.from(JSON.stringify(await this.bashJobs.run(req)));
    }
    if (req.op !== 'kill' || typeof req.token !== 'string') throw new Error(`unknown control request ${String(req.op)}`);
    // Kills go by the attempt's token: never another attempt of the same task.
    const s = this.sessions.get(req.token);
    if (s) await s.kill();
    return Buffer.from(JSON.stringify({ ok: true, found: !!s }));
  }

  /** `orch task attach`: dial the coordinator back with a terminal on the attempt's tmux session. */
  private async onAttach(raw: Record<string, unknown>): Promise<{ ok: boolean; reason?: string }> {
    const req = parseAttachRequest(raw);
    if (typeof req === 'string') return { ok: false, reason: req };
    const s = this.sessions.get(req.token);
    if (!s) return { ok: false, reason: `task ${req.taskId}'s attempt is not running on node ${this.o.name} (it just ended?)` };
    if (!(await this.tmux.hasSession(s.name))) return { ok: false, reason: `task ${req.taskId}'s tmux session ${s.name} is gone on node ${this.o.name} (the agent finished)` };
    try {
      await loadPty();
    } catch (err) {
      return { ok: false, reason: `node ${this.o.name}: ${(err as Error).message}` };
    }
    void runAttach(req, { tmux: this.tmux, session: s.name, cwd: s.dir, dial: () => this.gateway.attachSession() })
      .catch((err) => log.warn('attach failed', { task: req.taskId, err }));
    return { ok: true };
  }

  /**
   * Stop taking work. Running sessions keep going in tmux and are resumed by the
   * next start of this node (same ORCH_HOME); `orch task kill` stops one for good.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.hbTimer) clearTimeout(this.hbTimer);
    // Say we are going, and how long to keep our attempts: they stay in tmux for the next start.
    const grace = this.o.restartGraceMs ?? 60_000;
    this.holdSeconds = Math.max(1, Math.round(grace / 1000));
    this.writeLease(Date.now() + grace);
    const bye = this.sealer.seal(this.info());
    await Promise.allSettled([
      this.busDown ? Promise.resolve() : this.kv.put(this.o.name, bye),
      this.gateway.heartbeat(this.info(), 2_000),
    ]);
    this.stopConnWatch?.();
    this.unobserve?.();
    await this.consumer?.stop().catch(() => undefined);
    await this.control?.unsubscribe().catch(() => undefined);
    for (const s of this.sessions.values()) s.stopWatching();
    this.gateway.close();
  }
}
