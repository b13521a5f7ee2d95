// The coordinator: owns the store, routes, places and dispatches tasks, tracks
// nodes, keeps output, and serves the gRPC API. `orch serve` builds one of these.
import { Assignment, NodeInfo, type AttemptResult } from '../proto/gen/orch/v1/types.js';
import { ActorStoppedError } from '../runtime/actor.js';
import type { Bus, KeyValue, WorkQueue } from '../runtime/bus/bus.js';
import { ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS, HEARTBEAT_BUCKET, subjects } from '../runtime/bus/subjects.js';
import { loadProjectConfig, type OrchConfig } from '../runtime/config/index.js';
import { logger } from '../runtime/log.js';
import type { OrchPaths } from '../runtime/paths.js';
import { AttachRelay } from './attach-relay.js';
import { Cooldowns } from './cooldowns.js';
import { Dispatcher } from './dispatcher.js';
import { recoverFromFailure } from './failure-recovery.js';
import { observeTasks } from './metrics.js';
import { startGitHub, type GitHubHandle, type StartOptions as GitHubOptions } from './github/index.js';
import { HttpServer } from './http/server.js';
import { NodeRegistry, type HeartbeatOutcome, type InFlight } from './node-registry.js';
import { OutputHub } from './output-hub.js';
import { configJobs, type ConfigJobSource } from './scheduler/config-jobs.js';
import { Scheduler } from './scheduler/scheduler.js';
import { BashJobs } from './scheduler/bash-jobs.js';
import { JobStore } from './store/jobs.js';
import { route as routeDecision, type RouteDecision, type RouterState } from './router.js';
import { Routing } from './routing.js';
import { BusAsker, type Asker } from './ask.js';
import { ControlClient } from '../runtime/control-seal.js';
import { HeartbeatOpener, type CertCheck } from '../runtime/heartbeat-seal.js';
import type { Database } from './store/database.js';
import type { ProjectRow, Store, TaskRow } from './store/store.js';
import { RefusedError, TaskActor, type TaskContext, type TaskMsg, type TaskSettings } from './task-actor.js';

const log = logger('coordinator');

export interface CoordinatorDeps {
  paths: OrchPaths;
  config: OrchConfig;
  db: Database;
  store: Store;
  bus: Bus;
  /** Heartbeat TTL: a node silent this long is lost. */
  nodeTtlMs?: number;
  /**
   * In a TLS fleet: throws unless a certificate (DER) is node NAME's enrolled one. Heartbeats
   * on the bus then count only when sealed with that node's key (runtime/heartbeat-seal.ts).
   */
  checkNodeCert?: CertCheck;
  /** In a TLS fleet: our server key and certificate, which sign control requests to nodes. */
  serverTls?: { key: string; cert: string };
  /**
   * An attempt assigned this long ago that no node has started is lost (its assignment
   * was exhausted while the coordinator was away, or never arrived). Default 10 min:
   * the node consumer's ack wait times its max deliveries.
   */
  assignTimeoutMs?: number;
  /**
   * After a node is lost, wait this much longer before re-queueing its attempts: its
   * sessions stop themselves when their lease (the node TTL) runs out, and this covers
   * the time they take to die. Default 5 s.
   */
  fenceMs?: number;
  /** How often the reconcile sweep re-derives the dispatch queue and slots from the store. Default 5 s. */
  reconcileMs?: number;
  /** The leadership epoch this coordinator holds (shown by `orch status`). */
  epoch?: number;
  /** GitHub sync options (tests: env, shorter waits, manual polling). */
  github?: GitHubOptions;
  /** One-shot agent calls (default: over the bus to a node that has the agent). */
  asker?: Asker;
}

/** Agents routing may pick: the configured, enabled ones (claude when none is configured). */
export function enabledAgents(config: OrchConfig): string[] {
  const names = Object.entries(config.agents ?? {}).filter(([, a]) => a?.enabled !== false).map(([n]) => n);
  return names.length ? names : ['claude'];
}

/** This coordinator is stopping (shutdown, or its leadership ended): ask again, here or at the next leader. */
export class ShuttingDownError extends Error {
  constructor() {
    super('the coordinator is shutting down');
    this.name = 'ShuttingDownError';
  }
}

export class Coordinator {
  readonly registry: NodeRegistry;
  readonly dispatcher: Dispatcher;
  readonly hub: OutputHub;
  readonly cooldowns: Cooldowns;
  readonly jobs: JobStore;
  readonly scheduler: Scheduler;
  readonly bashJobs: BashJobs;
  /** Routing plans (the LLM router behind the pure decision). */
  readonly routing: Routing;
  /** One-shot agent calls on nodes (router, review, chat). */
  readonly asker: Asker;
  /** Pairs `orch task attach` streams with the streams nodes open back. */
  readonly attachRelay: AttachRelay;
  private actors = new Map<number, TaskActor>();
  private projectConfigs = new Map<string, OrchConfig>();
  private cursor = 0;
  private queue!: WorkQueue;
  private kv!: KeyValue;
  private stopWatch: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private staleTimer: NodeJS.Timeout | undefined;
  private stopConnWatch: (() => void) | undefined;
  private unobserve: (() => void) | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Opens (and in a TLS fleet verifies) heartbeats from the bus's KV bucket. */
  readonly heartbeats: HeartbeatOpener;
  private refusedBeats = new Map<string, number>();
  private readonly control: ControlClient;
  readonly startedAt = new Date();
  /** Nodes register (again) within a node TTL of our start: until then an empty fleet may be a fleet still arriving. */
  get fleetSettlesAt(): number { return this.startedAt.getTime() + Math.max(10_000, this.deps.nodeTtlMs ?? 10_000); }
  /** The HTTP server on http.listen (webhooks, health), when configured. */
  http: HttpServer | undefined;
  /** GitHub sync, when a project names gh.repo and credentials resolve. */
  github: GitHubHandle | undefined;

  constructor(readonly deps: CoordinatorDeps) {
    this.cooldowns = new Cooldowns(deps.store);
    this.heartbeats = new HeartbeatOpener(deps.checkNodeCert);
    this.taskContext = this.makeTaskContext();
    this.registry = new NodeRegistry({ ttlMs: deps.nodeTtlMs ?? 10_000, fenceMs: deps.fenceMs ?? 5_000, onLost: (node, attempts) => this.nodeLost(node, attempts) });
    this.hub = new OutputHub(deps.paths);
    this.control = new ControlClient(deps.serverTls, deps.checkNodeCert);
    this.attachRelay = new AttachRelay((node, body, timeoutMs) => this.controlRequest(node, body, timeoutMs));
    this.jobs = new JobStore(deps.db.pool, deps.store);
    this.bashJobs = new BashJobs({
      jobs: this.jobs, project: (name) => this.store.getProject(name), requiredTools: (p) => this.projectConfig(p).required_tools ?? [],
      snapshots: () => this.registry.snapshots(), request: (node, body, timeoutMs) => this.controlRequest(node, body, timeoutMs),
      fleetSettlesAt: () => this.fleetSettlesAt,
      lostAfterMs: () => { const g = this.config.cluster.bash_job_grace_seconds; return g === undefined ? undefined : g * 1000; },
    });
    this.scheduler = new Scheduler({
      jobs: this.jobs, runBash: (job, at) => this.bashJobs.fire(job, at),
      taskOpen: async (id) => { const t = await this.store.getTask(id); return !!t && t.status !== 'done'; },
      created: (task) => this.actor(task.id).tell({ op: 'route' }),
    });
    this.asker = deps.asker ?? new BusAsker({ bus: deps.bus, snapshots: () => this.registry.snapshots(), request: (node, body, timeoutMs) => this.controlRequest(node, body, timeoutMs) });
    this.routing = new Routing({
      asker: this.asker,
      config: (p) => this.projectConfig(p), state: (p) => this.routerState(p), advanceCursor: () => { this.cursor += 1; },
      liveAgents: () => this.registry.fleetAgents(),
      fleetSettlesAt: () => this.fleetSettlesAt,
    });
    this.dispatcher = new Dispatcher({
      snapshots: () => this.registry.snapshots(),
      dispatch: async (taskId, node) => { await this.actor(taskId).ask({ op: 'dispatch', node }); },
      isRefusal: (err) => err instanceof RefusedError,
    });
  }

  get store(): Store { return this.deps.store; }
  get config(): OrchConfig { return this.deps.config; }

  async start(): Promise<void> {
    const { bus } = this.deps;
    this.queue = await bus.workQueue(ASSIGNMENT_QUEUE, ASSIGNMENT_SUBJECTS);
    this.queue.onExhausted((_subject, data) => this.assignmentExhausted(data));
    this.kv = await bus.kv(HEARTBEAT_BUCKET, { ttlMs: this.deps.nodeTtlMs ?? 10_000 });
    // In order, one at a time: a sealed heartbeat's sequence must grow.
    let opening = Promise.resolve();
    this.stopWatch = await this.kv.watch((e) => {
      if (e.operation !== 'PUT') return;
      // Timed by our clock at receipt: the NATS server's clock (e.updatedAt) may be skewed.
      opening = opening.then(async () => {
        const o = await this.heartbeats.open(e.key, e.value);
        if (o.refused !== undefined) return this.heartbeatRefused(e.key, o.refused);
        if (o.info && !this.stopped) this.heartbeat(e.key, o.info);
      }).catch((err) => log.warn('heartbeat not handled', { key: e.key, err }));
    });
    for (const p of await this.store.listProjects()) await this.loadProjectConfig(p);
    await this.cooldowns.load();
    await this.syncConfigJobs();
    await this.recover();
    this.scheduler.start();
    this.unobserve = observeTasks(this.store);
    const sweepEvery = Math.max(200, Math.min(2_000, (this.deps.nodeTtlMs ?? 10_000) / 4));
    // Liveness is judged only while we can see heartbeats: a NATS outage of our own is no node's fault.
    let blind = false;
    this.stopConnWatch = bus.onConnection((state) => {
      blind = state === 'disconnected';
      if (!blind) this.registry.grace();
    });
    this.sweepTimer = setInterval(() => { if (!blind) this.registry.sweep(); }, sweepEvery);
    this.sweepTimer.unref();
    const assignTimeout = this.deps.assignTimeoutMs ?? 600_000;
    this.staleTimer = setInterval(() => void this.sweepStaleAssignments(assignTimeout), Math.min(30_000, Math.max(100, assignTimeout / 4)));
    this.staleTimer.unref();
    this.reconcileTimer = setInterval(() => void this.reconcile(), this.deps.reconcileMs ?? 5_000);
    this.reconcileTimer.unref();
    if (this.config.http?.listen) {
      this.http = new HttpServer(() => ({ startedAt: this.startedAt.toISOString(), github: !!this.github }));
      await this.http.listen(this.config.http.listen);
    }
    this.githubWanted = true;
    await this.ensureGitHub();
  }

  private githubWanted = false;
  private githubStarting: Promise<void> | undefined;

  /**
   * Start GitHub sync once some project names gh.repo (at start, or when one is added).
   * The one place GitHub work starts: a standby coordinator would simply not call it.
   */
  private async ensureGitHub(): Promise<void> {
    if (!this.githubWanted || this.github) return;
    this.githubStarting ??= (async () => {
      const projects = await this.store.listProjects();
      if (!projects.some((p) => this.projectConfig(p.name).gh.repo)) return;
      this.github = await startGitHub({
        store: this.store, pool: this.deps.db.pool, config: this.config, http: this.http,
        projectConfig: (p) => this.projectConfig(p), ask: (id, msg) => this.ask(id, msg),
        route: (id) => this.actor(id).tell({ op: 'route' }), onTaskChanged: (l) => this.onTaskChanged(l),
        asker: this.asker, fleetAgents: () => this.registry.fleetAgents(), reviewModel: (p, a) => this.routing.reviewModel(p, a),
      }, this.deps.github);
    })().finally(() => { this.githubStarting = undefined; });
    await this.githubStarting;
  }

  /** A heartbeat from the bus that does not count: said once per node and reason a minute. */
  private heartbeatRefused(name: string, why: string): void {
    const k = `${name}\0${why}`;
    const now = Date.now();
    if ((this.refusedBeats.get(k) ?? 0) > now - 60_000) return;
    if (this.refusedBeats.size > 1_000) this.refusedBeats.clear();
    this.refusedBeats.set(k, now);
    log.warn('heartbeat on the bus refused', { node: name, err: why });
  }

  /**
   * A heartbeat from the bus or over gRPC. Attempts the node says (twice) it does not run are
   * lost; sessions it runs that are no attempt of ours there are stopped.
   */
  heartbeat(name: string, info: NodeInfo): HeartbeatOutcome {
    const out = this.registry.heartbeat(name, info, Date.now());
    for (const a of out.vanished) {
      log.warn('node no longer runs an attempt placed there; attempt lost', { node: name, task: a.taskId, attempt: a.attempt });
      this.actor(a.taskId).tell({ op: 'lost', attempt: a.attempt, token: a.token, node: name, why: 'the node no longer runs it' });
    }
    for (const token of out.stray) {
      log.warn('node runs a superseded attempt; stopping it', { node: name, token });
      void this.killToken(name, token).catch((err) => log.warn('could not stop a superseded attempt', { node: name, err }));
    }
    if (out.known) this.dispatcher.pump();
    return out;
  }

  /**
   * The safety net under every event-driven path: whatever an error or a lost message
   * left behind (a routed task nobody queued, a new task nobody routed, an active attempt
   * whose slot was forgotten or whose node is gone), this finds and moves on.
   */
  async reconcile(): Promise<void> {
    if (this.stopped) return;
    try {
      for (const t of await this.store.tasksInStatus(['new', 'routed'])) {
        if (t.status === 'new') this.actor(t.id).tell({ op: 'route' });
        else if (!this.dispatcher.has(t.id)) this.enqueue(t);
      }
      for (const a of await this.store.attemptsInState(['assigned', 'running'])) {
        if (this.registry.inFlight(a.node).some((x) => x.token === a.token)) continue;
        if (this.registry.isLost(a.node)) {
          this.actor(a.taskId).tell({ op: 'lost', attempt: a.number, token: a.token, node: a.node, why: 'its node is lost' });
        } else {
          this.registry.placed(a.node, { taskId: a.taskId, attempt: a.number, token: a.token });
          if (a.state === 'running') this.registry.claimed(a.token);
        }
      }
      this.dispatcher.pump();
    } catch (err) {
      log.warn('reconcile sweep failed; trying again at the next one', { err });
    }
  }

  /** `orch node drain NAME` (reason) or its undo (undefined). */
  async drain(name: string, reason: string | undefined): Promise<NodeInfo> {
    if (!(await this.store.setNodeDrained(name, reason ?? null))) throw new RefusedError(`no node named ${name} has ever registered`);
    this.registry.setDrained(name, reason);
    log.info(reason ? 'node drained' : 'node resumed', { node: name, reason });
    this.dispatcher.pump();
    const info = this.registry.list().find((n) => n.name === name);
    if (!info) throw new RefusedError(`node ${name} is not known to this coordinator yet`);
    return info;
  }

  /** `orch node remove NAME`: forget a node that holds no attempts (a live one registers again at its next heartbeat). */
  async forgetNode(name: string): Promise<boolean> {
    const held = this.registry.inFlight(name).length;
    if (held) throw new RefusedError(`node ${name} still holds ${held} attempt(s): drain it and let them finish first`);
    const known = this.registry.forget(name);
    const stored = await this.store.forgetNode(name);
    log.info('node forgotten', { node: name });
    return known || stored;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.scheduler.stop();
    this.githubWanted = false;
    await this.githubStarting;
    await this.github?.stop();
    this.github = undefined;
    await this.http?.close();
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.staleTimer) clearInterval(this.staleTimer);
    this.stopConnWatch?.();
    this.unobserve?.();
    this.stopWatch?.();
    this.dispatcher.stop();
    for (const a of this.actors.values()) a.stop();
  }

  /** Re-queue what a previous run left: route new tasks, dispatch routed ones, re-offer assigned attempts. */
  private async recover(): Promise<void> {
    const tasks = await this.store.tasksInStatus(['new', 'routed', 'in_progress']);
    for (const t of tasks) {
      if (t.status === 'new') this.actor(t.id).tell({ op: 'route' });
      // A retry waiting out a cooldown keeps waiting after a restart.
      else if (t.status === 'routed') this.enqueue(t, this.cooldowns.remainingMs(t.agent, t.model));
    }
    for (const n of await this.store.listNodes()) {
      if (n.drained) this.registry.setDrained(n.name, n.drained);
      // What the fleet had before this coordinator started: tasks may name those agents at once.
      const agents = (n.info as { agents?: Array<{ name?: unknown }> } | null)?.agents ?? [];
      this.registry.rememberAgents(agents.map((a) => a.name).filter((x): x is string => typeof x === 'string'));
    }
    for (const a of await this.store.attemptsInState(['assigned', 'running'])) {
      this.registry.placed(a.node, { taskId: a.taskId, attempt: a.number, token: a.token });
      if (a.state === 'running') this.registry.claimed(a.token);
      this.hub.noteAttempt(a.taskId, a.number, a.token);
      if (a.state === 'assigned') {
        // The assignment may not have survived (in-process bus); nodes ignore a token they hold.
        const t = tasks.find((x) => x.id === a.taskId);
        if (t) await this.publishAssignment(await this.actor(t.id).assignment(t, a)).catch((err) => log.warn('could not re-offer assignment', { task: t.id, err }));
      }
    }
    // Nodes that held attempts get one TTL to come back (register) before their attempts count as lost.
    const now = Date.now();
    for (const n of new Set((await this.store.attemptsInState(['assigned', 'running'])).map((a) => a.node))) {
      this.registry.expect(n, now);
    }
    if (tasks.length) log.info('recovered unfinished tasks', { count: tasks.length });
  }

  /** Attempts stuck in `assigned` past the timeout: lost, so the task moves on (see assignTimeoutMs). */
  private async sweepStaleAssignments(timeoutMs: number): Promise<void> {
    try {
      const now = Date.now();
      for (const a of await this.store.attemptsInState(['assigned'])) {
        if (now - a.createdAt.getTime() < timeoutMs) continue;
        log.warn('assignment never started; attempt lost', { task: a.taskId, attempt: a.number, node: a.node });
        this.actor(a.taskId).tell({ op: 'lost', attempt: a.number, token: a.token, node: a.node, why: `no node started it within ${Math.round(timeoutMs / 1000)} s`, counts: true });
      }
    } catch (err) {
      log.warn('stale assignment sweep failed', { err });
    }
  }

  actor(taskId: number): TaskActor {
    let a = this.actors.get(taskId);
    if (!a || a.isStopped) {
      a = new TaskActor(taskId, this.taskContext);
      this.actors.set(taskId, a);
    }
    return a;
  }

  /** Send a message to a task's actor and wait for the resulting task row. */
  ask(taskId: number, msg: TaskMsg, timeoutMs = 60_000): Promise<TaskRow> {
    return this.actor(taskId).ask<TaskRow>(msg, timeoutMs).catch((err) => {
      if (err instanceof ActorStoppedError) throw new ShuttingDownError();
      throw err;
    });
  }

  private readonly taskContext: TaskContext;

  private makeTaskContext(): TaskContext {
    return {
    store: this.deps.store,
    planRoute: (task) => this.routing.plan(task),
    settings: (task) => this.settings(task.project),
    project: async (name) => {
      const p = await this.store.getProject(name);
      if (!p) throw new RefusedError(`project ${name} is not registered`);
      return p;
    },
    publishAssignment: (a) => this.publishAssignment(a),
    killOnNode: (node, taskId, attempt, token) => this.killOnNode(node, taskId, attempt, token),
    attemptClaimed: (_node, token) => this.registry.claimed(token),
    attemptEnded: (a) => {
      this.registry.drop(a.node, a.token);
      this.hub.finish(a.taskId, a.number);
      this.dispatcher.pump();
    },
    changed: (task, event, opts) => this.changed(task, event, opts?.retryDelayMs),
    recover: (task, attempt, result) => recoverFromFailure({
      cooldowns: this.cooldowns, config: (t) => this.projectConfig(t.project), route: (t) => this.route(t),
    }, task, attempt, result),
    };
  }

  /**
   * Agents routing may pick: what the fleet's nodes report installed (agents are configured
   * on the nodes); before any node has registered, the coordinator's own configuration.
   */
  routableAgents(project: string): string[] {
    const fleet = this.registry.fleetAgents();
    return fleet.length ? fleet : enabledAgents(this.projectConfig(project));
  }

  /** Agents a task may name: any the fleet has ever reported, or the coordinator's config has. */
  knownAgents(project: string): string[] {
    return [...new Set([...this.registry.everSeenAgents(), ...enabledAgents(this.projectConfig(project))])].sort();
  }

  /** The pure router's view of a project: the fleet's agents, model_map, cooldowns, weights, cursor. */
  routerState(project: string): RouterState {
    const cfg = this.projectConfig(project);
    return {
      agents: this.routableAgents(project), known: this.knownAgents(project), modelMap: cfg.model_map ?? {}, cursor: this.cursor,
      fallbackAgent: cfg.router?.fallback_executor, weights: cfg.router?.weights, cooling: (agent, model) => this.cooldowns.cooling(agent, model),
    };
  }

  /** Routing without the LLM (failure recovery, with the agent pinned). */
  private route(task: TaskRow): RouteDecision {
    const d = routeDecision({ agent: task.agent || undefined, complexity: task.complexity || undefined, labels: task.labels }, this.routerState(task.project));
    if (d.usedCursor) this.cursor += 1;
    return d;
  }

  projectConfig(project: string): OrchConfig {
    return this.projectConfigs.get(project) ?? this.deps.config;
  }

  settings(project: string): TaskSettings {
    const cfg = this.projectConfig(project);
    return {
      maxAttempts: cfg.workflow.max_attempts,
      timeoutSeconds: cfg.workflow.timeout_seconds,
      retryBaseMs: (cfg.workflow.retry_delay_seconds ?? 10) * 1000,
      prFlow: this.github?.opensPrs(project) ?? false,
    };
  }

  /**
   * A new global config (config.yml changed): routing, workflow limits and project
   * overrides follow it from the next decision on. Nodes read their own config at start.
   */
  async reloadConfig(config: OrchConfig): Promise<void> {
    const ghChanged = JSON.stringify(this.deps.config.gh) !== JSON.stringify(config.gh);
    this.deps.config = config;
    this.projectConfigs.clear();
    for (const p of await this.store.listProjects()) await this.loadProjectConfig(p);
    await this.syncConfigJobs();
    // GitHub sync read the global gh.* settings (auth, api_url, webhook secret, poll interval) when it
    // started: start it again with the new ones. What it owed GitHub is in the store; the first poll catches up.
    if (ghChanged && this.githubWanted && !this.stopped) await this.restartGitHub();
    log.info('config reloaded');
    this.dispatcher.pump();
  }

  private async restartGitHub(): Promise<void> {
    await this.githubStarting;
    const old = this.github;
    this.github = undefined;
    await old?.stop();
    log.info(old ? 'gh settings changed: GitHub sync restarted with them' : 'gh settings changed: starting GitHub sync');
    await this.ensureGitHub();
  }

  /** Store the jobs of config.yml and every project's .orch.yml; drop config jobs no file has any more. */
  async syncConfigJobs(): Promise<void> {
    try {
      const projects = (await this.store.listProjects()).map((p) => p.name);
      const sources: ConfigJobSource[] = [{ file: this.deps.paths.config, jobs: this.deps.config.jobs ?? [] }];
      for (const [name, cfg] of this.projectConfigs) {
        // A project's own list (what its .orch.yml added on top of the global one).
        const own = (cfg.jobs ?? []).filter((j) => !(this.deps.config.jobs ?? []).includes(j));
        if (own.length) sources.push({ file: `${name}/.orch.yml`, jobs: own, project: name });
      }
      const { jobs, problems } = configJobs(sources, projects);
      for (const p of problems) log.error(`job not scheduled: ${p}`);
      for (const j of jobs) await this.jobs.upsert(j);
      const gone = await this.jobs.removeConfigJobsExcept(jobs.map((j) => j.id));
      if (gone.length) log.info('config jobs removed', { jobs: gone });
    } catch (err) {
      log.error('could not apply the config jobs', { err });
    }
  }

  async loadProjectConfig(p: ProjectRow): Promise<void> {
    if (!p.path) return;
    try {
      const { config, warnings } = await loadProjectConfig(this.deps.config, p.path, p.name);
      for (const w of warnings) log.warn(w);
      this.projectConfigs.set(p.name, config);
      if (config.gh.repo) await this.ensureGitHub();
    } catch (err) {
      log.error('project config not loaded; using global config', { project: p.name, err });
    }
  }

  private enqueue(task: TaskRow, delayMs = 0): void {
    const cfg = this.projectConfig(task.project);
    this.dispatcher.enqueue({ taskId: task.id, agent: task.agent, requiredTools: cfg.required_tools ?? [], notBefore: Date.now() + delayMs });
  }

  private statusListeners = new Set<(task: TaskRow) => void>();

  /** Be told of every task transition (streams use it to end when their task settles). */
  onTaskChanged(l: (task: TaskRow) => void): () => void {
    this.statusListeners.add(l);
    return () => this.statusListeners.delete(l);
  }

  private changed(task: TaskRow, event: string, retryDelayMs?: number): void {
    log.info('task changed', { task: task.id, status: task.status, event });
    for (const l of this.statusListeners) {
      try { l(task); } catch (err) { log.warn('task listener failed', { err }); }
    }
    if (task.status === 'new') this.actor(task.id).tell({ op: 'route' });
    else if (task.status === 'routed') this.enqueue(task, retryDelayMs ?? 0);
    else this.dispatcher.remove(task.id);
    // A delegated task done: its parent may go on (its actor checks every sibling).
    if (task.status === 'done' && task.parentId) this.actor(task.parentId).tell({ op: 'children_done' });
  }

  /**
   * A request on node `node`'s control subject (kill, attach, ask, bash_job): in a TLS fleet
   * signed with our server key, and the reply accepted only when node `node` signed it.
   */
  controlRequest(node: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const subject = subjects.control(node);
    return this.control.request(node, subject, body, (data) => this.deps.bus.request(subject, data, { timeoutMs }));
  }

  async publishAssignment(a: Assignment): Promise<void> {
    this.registry.placed(a.node, { taskId: a.taskId, attempt: a.attempt, token: a.token });
    this.hub.noteAttempt(a.taskId, a.attempt, a.token);
    // W3C trace context rides in the NATS headers too.
    await this.queue.publish(subjects.assign(a.node), Assignment.encode(a).finish(), { msgId: a.token, headers: a.trace });
  }

  private async killOnNode(node: string, taskId: number, attempt: number, token: string): Promise<void> {
    const body = Buffer.from(JSON.stringify({ op: 'kill', taskId, attempt, token }));
    await this.controlRequest(node, body, 10_000);
  }

  /** Stop a node's session of an attempt we know only by its token (a superseded one). */
  private async killToken(node: string, token: string): Promise<void> {
    await this.controlRequest(node, Buffer.from(JSON.stringify({ op: 'kill', token })), 10_000);
  }

  private nodeLost(node: string, attempts: InFlight[]): void {
    log.warn('node lost; re-queueing its attempts', { node, attempts: attempts.length });
    for (const a of attempts) {
      this.actor(a.taskId).tell({ op: 'lost', attempt: a.attempt, token: a.token, node, why: 'node stopped heartbeating' });
    }
  }

  private assignmentExhausted(data: Uint8Array): void {
    try {
      const a = Assignment.decode(data);
      log.error('assignment ran out of deliveries', { task: a.taskId, attempt: a.attempt, node: a.node });
      this.actor(a.taskId).tell({ op: 'lost', attempt: a.attempt, token: a.token, node: a.node, why: 'assignment exceeded its maximum deliveries', counts: true });
    } catch (err) {
      log.error('an undecodable assignment ran out of deliveries', { err });
    }
  }

  /** A node's result (fenced by its token inside the actor). */
  report(result: AttemptResult): Promise<TaskRow> {
    return this.ask(result.taskId, { op: 'result', result });
  }
}
