// AgentNode: registers with the coordinator, heartbeats, pulls assignments only
// while it has free slots, runs one Session per attempt, answers control requests
// (kill), and after a restart finds the sessions it left in tmux and resumes them.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { Assignment, NodeInfo, type AgentInfo } from '../proto/gen/orch/v1/types.js';
import type { HeldAttempt } from '../proto/gen/orch/v1/node.js';
import type { Bus, Consumer, Delivery, KeyValue, Subscription } from '../runtime/bus/bus.js';
import { ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS, HEARTBEAT_BUCKET, subjects } from '../runtime/bus/subjects.js';
import type { OrchConfig } from '../runtime/config/index.js';
import { logger } from '../runtime/log.js';
import { OrchPaths } from '../runtime/paths.js';
import { registerSecret } from '../runtime/redact.js';
import { adapterFor } from './agents/index.js';
import { agentSpec, configuredAgents, configuredModels, resolveCommand } from './agents/spec.js';
import { GatewayClient } from './gateway-client.js';
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
  token?: string;
  bus: Bus;
  labels?: string[];
  address?: string;
  heartbeatMs?: number;
  nodeTtlMs?: number;
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
  readonly paths: OrchPaths;
  readonly tmux: Tmux;
  readonly gateway: GatewayClient;

  private constructor(private readonly o: AgentNodeOptions) {
    this.paths = new OrchPaths(o.home);
    this.tmux = new Tmux(o.config.tmux?.socket ?? 'orch');
    this.gateway = new GatewayClient(o.coordinator, o.token);
    for (const a of Object.values(o.config.agents ?? {})) for (const v of Object.values(a?.env ?? {})) registerSecret(v);
  }

  static async start(o: AgentNodeOptions): Promise<AgentNode> {
    const n = new AgentNode(o);
    await n.begin();
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
      lastHeartbeat: new Date().toISOString(), state: this.stopping ? 'draining' : 'up', version: '',
    };
  }

  private async begin(): Promise<void> {
    mkdirSync(this.paths.sessionsDir, { recursive: true });
    dropStaleSpares(this.paths.worktreesRoot);
    await this.detect();
    const resumable = await this.findSurvivors();
    const held: HeldAttempt[] = resumable.map((r) => ({ taskId: r.assignment.taskId, attempt: r.assignment.attempt, token: r.assignment.token }));
    const reg = await this.gateway.register({ node: this.info(), held });
    const released = new Set(reg.release.map((h) => h.token));
    for (const r of resumable) {
      const s = new Session(r.assignment, this.sessionDeps());
      if (released.has(r.assignment.token)) {
        log.info('dropping a session the coordinator no longer wants', { task: r.assignment.taskId, attempt: r.assignment.attempt });
        await s.kill();
        this.forget(r.assignment.token);
        continue;
      }
      this.sessions.set(s.token, s);
      log.info('resuming session left by a previous run', { task: r.assignment.taskId, attempt: r.assignment.attempt });
      void this.follow(s);
    }
    this.kv = await this.o.bus.kv(HEARTBEAT_BUCKET, { ttlMs: this.o.nodeTtlMs ?? 10_000 });
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
    this.control = await this.o.bus.serve(subjects.control(this.o.name), async (data) => this.onControl(data));
    const queue = await this.o.bus.workQueue(ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS);
    this.consumer = await queue.consume({
      durable: subjects.assignConsumer(this.o.name),
      filter: subjects.assign(this.o.name),
      capacity: () => (this.stopping ? 0 : this.o.slots - this.sessions.size),
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

  private async heartbeat(): Promise<void> {
    try {
      await this.kv.put(this.o.name, NodeInfo.encode(this.info()).finish());
    } catch (err) {
      log.warn('heartbeat failed', { err });
    }
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
    if (this.sessions.has(a.token) || existsSync(this.indexFile(a.token)) || this.stopping) {
      // A redelivery of something we already run (or we are draining: give it back).
      if (this.stopping) await d.nak(1_000); else await d.ack();
      return;
    }
    const s = new Session(a, this.sessionDeps());
    this.sessions.set(a.token, s);
    try {
      await d.working();
      await s.launch();
      writeFileSync(this.indexFile(a.token), JSON.stringify({ dir: s.dir }));
    } catch (err) {
      log.error('attempt could not start', { task: a.taskId, attempt: a.attempt, err });
      await d.ack();
      const message = (err as Error).message;
      await this.gateway.reportResult({
        taskId: a.taskId, attempt: a.attempt, token: a.token, node: this.o.name, outcome: 'error', answer: undefined,
        errorClass: /not found|ENOENT|command not found/i.test(message) ? 'MissingTool' : 'AgentFailed', errorMessage: message.slice(0, 500),
        exitCode: -1, durationMs: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, commit: '', pushed: false, stderrTail: '', dir: s.dir,
        cacheReadTokens: 0, cacheWriteTokens: 0, costSource: '', retryAfterSeconds: 0, sessionId: '', diff: '', changedFiles: [], model: a.model,
      }).catch((e) => log.error('could not report a failed start', { task: a.taskId, err: e }));
      this.forget(a.token);
      return;
    }
    await d.ack();
    const ack = await this.gateway.reportStarted({ taskId: a.taskId, attempt: a.attempt, token: a.token, node: this.o.name, session: s.name, dir: s.dir, worktree: s.worktree })
      .catch((err) => ({ accepted: true, reason: `unconfirmed: ${(err as Error).message}` }));
    if (!ack.accepted) {
      log.warn('coordinator refused the attempt; stopping it', { task: a.taskId, reason: ack.reason });
      await s.kill();
      this.forget(a.token);
      return;
    }
    void this.follow(s);
  }

  /** Watch a session to its end and report the result (retrying until the coordinator answers). */
  private async follow(s: Session): Promise<void> {
    try {
      const result = await s.watch();
      if (this.stopping && result.errorClass === 'Killed') return;
      const ack = await this.gateway.reportResult(result);
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
    const req = JSON.parse(Buffer.from(data).toString('utf8')) as { op: string; taskId: number; attempt: number; token: string };
    if (req.op !== 'kill') throw new Error(`unknown control op ${req.op}`);
    const s = this.sessions.get(req.token);
    if (s) await s.kill();
    return Buffer.from(JSON.stringify({ ok: true, found: !!s }));
  }

  /**
   * Stop taking work. Running sessions keep going in tmux and are resumed by the
   * next start of this node (same ORCH_HOME); `orch task kill` stops one for good.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.hbTimer) clearTimeout(this.hbTimer);
    await this.consumer?.stop().catch(() => undefined);
    await this.control?.unsubscribe().catch(() => undefined);
    for (const s of this.sessions.values()) s.stopWatching();
    this.gateway.close();
  }
}
