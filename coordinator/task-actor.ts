// TaskActor: one per live task, the only writer of that task's state. Each message
// is decided by the pure lifecycle and applied as one store transaction (status +
// task_events row + attempt change), then the coordinator is told what changed.
import { randomUUID } from 'node:crypto';
import { SpanKind, trace, type Span } from '@opentelemetry/api';
import { Actor } from '../runtime/actor.js';
import { carrierOf, contextOf, endWithError, startIntake, tracer } from '../runtime/telemetry/index.js';
import { logger } from '../runtime/log.js';
import type { AttemptStarted } from '../proto/gen/orch/v1/node.js';
import type { Assignment, AttemptResult, Delegation } from '../proto/gen/orch/v1/types.js';
import { decide, isRefusal, type LifecycleEvent, type TaskStatus } from './lifecycle.js';
import { boundDiff, branchName, systemPrompt, taskPrompt, type AttemptMemory } from './prompt.js';
import { childrenDone, childTasks, waitingReason } from './delegation.js';
import { recordAttemptEnded, recordAttemptResult, recordDispatchLatency, recordQueueWait } from './metrics.js';
import type { Recovery } from './recovery.js';
import { routeBasis, type RoutePlan } from './routing.js';
import { insertRoute } from './store/routing.js';
import type { AttemptRow, ProjectRow, Store, TaskRow } from './store/store.js';

const log = logger('task');

export class RefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedError';
  }
}

export interface TaskSettings {
  maxAttempts: number;
  timeoutSeconds: number;
  /** First retry delay after a failed attempt; doubles per attempt, capped at 120 s. */
  retryBaseMs: number;
  /** Finished work goes to review as a pull request (a project synced with GitHub). */
  prFlow?: boolean;
}

/** What a TaskActor needs from the coordinator around it. */
export interface TaskContext {
  store: Store;
  /** Plan the task's routing (may ask the LLM router: it runs outside this actor's mailbox). */
  planRoute(task: TaskRow): Promise<RoutePlan>;
  settings(task: TaskRow): TaskSettings;
  project(name: string): Promise<ProjectRow>;
  publishAssignment(a: Assignment): Promise<void>;
  /** Ask the node to stop an attempt's session (best effort). */
  killOnNode(node: string, taskId: number, attempt: number, token: string): Promise<void>;
  /** A node claimed an attempt's start: its heartbeats must list it from now on. */
  attemptClaimed(node: string, token: string): void;
  /** An attempt is over (frees its slot on its node, closes its output). */
  attemptEnded(a: Pick<AttemptRow, 'taskId' | 'number' | 'node' | 'token'>): void;
  /** What follows a failed attempt (recovery.ts), with its cooldown persisted; a reroute names the new model. */
  recover(task: TaskRow, attempt: AttemptRow, result: AttemptResult): Promise<Recovery & { model?: string }>;
  /** The task changed; `retryDelayMs` asks for a delayed dispatch. */
  changed(task: TaskRow, event: string, opts?: { retryDelayMs?: number }): void;
}

export type TaskMsg =
  | { op: 'route' }
  /** A routing plan is ready (sent by the actor to itself). */
  | { op: 'routed'; plan: RoutePlan; span?: Span }
  | { op: 'route_failed'; basis: string; reason: string; span?: Span }
  | { op: 'dispatch'; node: string }
  | { op: 'started'; started: AttemptStarted }
  | { op: 'result'; result: AttemptResult }
  /** `counts`: an attempt lost before it started still counts (its assignment kept failing on a node). */
  | { op: 'lost'; attempt: number; token: string; node: string; why: string; counts?: boolean }
  | { op: 'kill'; by: string }
  | { op: 'close'; note: string }
  | { op: 'retry' }
  | { op: 'run' }
  | { op: 'checkLease'; attempt: number; token: string }
  | { op: 'children_done' }
  | ExternalChange;

/** A change that comes from outside the node protocol (GitHub: issues, PRs, CI, reviews, commands). */
export interface ExternalChange {
  op: 'external';
  ev: LifecycleEvent;
  patch?: Parameters<Store['transition']>[3]['patch'];
  /** Feedback for the next attempt's prompt (a failing check, a review). */
  memory?: AttemptMemory;
}

const ACTIVE: AttemptRow['state'][] = ['assigned', 'running'];

export class TaskActor extends Actor<TaskMsg> {
  constructor(readonly taskId: number, private readonly ctx: TaskContext) {
    super(`task-${taskId}`);
  }

  protected async receive(msg: TaskMsg): Promise<TaskRow> {
    const task = await this.ctx.store.getTask(this.taskId);
    if (!task) throw new RefusedError(`task ${this.taskId} not found`);
    switch (msg.op) {
      case 'route': return this.routeTask(task);
      case 'routed': return this.applyRoute(task, msg.plan, msg.span);
      case 'route_failed': return this.routeFailed(task, msg.basis, msg.reason, msg.span);
      case 'dispatch': return this.dispatch(task, msg.node);
      case 'started': return this.started(task, msg.started);
      case 'result': return this.result(task, msg.result);
      case 'lost': return this.lost(task, msg);
      case 'kill': return this.kill(task, msg.by);
      case 'close': return this.close(task, msg.note);
      // A retry or run is a person deciding to try again: the attempt budget starts over.
      case 'retry': return this.apply(task, { type: 'retry' }, { spent: 0 });
      case 'run': return this.apply(task, { type: 'run' }, task.status === 'blocked' || task.status === 'needs_review' ? { spent: 0 } : {});
      case 'children_done': return this.resumeParent(task);
      case 'checkLease': {
        const a = await this.activeAttempt(task, msg.attempt, msg.token);
        if (typeof a === 'string') throw new RefusedError(a);
        return task;
      }
      case 'external': return this.external(task, msg);
    }
  }

  /** Only attempts that ran count against max_attempts (an assignment that never started is not the task's fault). */
  private facts(task: TaskRow, counting = false) {
    return { status: task.status as TaskStatus, attempts: task.spent + (counting ? 1 : 0), maxAttempts: this.ctx.settings(task).maxAttempts };
  }

  /** Consecutive assignments that could not be published (bus down): they back off. */
  private publishFailures = 0;
  /** When each attempt's assignment went out (by token), for the dispatch latency metric. */
  private publishedAt = new Map<string, number>();

  /** Decide and apply an event that touches no attempt. */
  private async apply(task: TaskRow, ev: LifecycleEvent, patch: Parameters<Store['transition']>[3]['patch'] = {}): Promise<TaskRow> {
    const t = decide(this.facts(task), ev);
    if (isRefusal(t)) throw new RefusedError(`task ${task.id}: ${t.refused}`);
    const { task: next } = await this.ctx.store.transition(task.id, task.status, t.to, {
      patch: { ...patch, ...(t.reason !== undefined ? { reason: t.reason } : {}) },
      event: t.event,
      detail: t.detail,
    });
    this.ctx.changed(next, t.event);
    return next;
  }

  /** The routing plan this actor waits for (its inputs): one at a time. */
  private planning: string | undefined;

  /**
   * Start routing a new task. The plan (which may ask the LLM router) runs outside this
   * mailbox: the task stays `new` meanwhile and its other messages are handled. Its span
   * covers the plan, so the router's call nests under it.
   */
  private routeTask(task: TaskRow): TaskRow {
    if (task.status !== 'new') return task; // already routed by an earlier message
    const basis = routeBasis(task);
    if (this.planning === basis) return task;
    this.planning = basis;
    const span = tracer().startSpan('orch.task.route', { attributes: { 'orch.task': task.id } }, contextOf(task.trace));
    const traced = { ...task, trace: carrierOf(trace.setSpan(contextOf(task.trace), span)) };
    this.ctx.planRoute(traced).then(
      (plan) => this.tell({ op: 'routed', plan, span }),
      (err) => this.tell({ op: 'route_failed', basis, reason: err instanceof Error ? err.message : String(err), span }),
    );
    return task;
  }

  private async applyRoute(task: TaskRow, plan: RoutePlan, span?: Span): Promise<TaskRow> {
    if (this.planning === plan.basis) this.planning = undefined;
    const r = plan.decision;
    span?.setAttributes({
      'orch.agent': r.agent, 'orch.model': r.model, 'orch.complexity': r.complexity, 'orch.route.reason': r.reason, 'orch.route.source': r.source,
      ...(plan.record.tries ? { 'orch.route.router_cost_usd': plan.record.costUsd, 'orch.route.tries': plan.record.tries } : {}),
    });
    span?.end();
    if (task.status !== 'new') return task; // closed, blocked or routed meanwhile
    if (routeBasis(task) !== plan.basis) return this.routeTask(task); // its agent, tier or labels changed meanwhile
    const t = decide(this.facts(task), { type: 'route', ...r });
    if (isRefusal(t)) throw new RefusedError(`task ${task.id}: ${t.refused}`);
    const { task: next } = await this.ctx.store.transition(task.id, task.status, t.to, {
      patch: { agent: r.agent, model: r.model, complexity: r.complexity, branch: task.branch || branchName(task.id, task.title), ...(t.reason !== undefined ? { reason: t.reason } : {}) },
      event: t.event,
      detail: t.detail,
      also: (c) => insertRoute(c, task.id, plan.record),
    });
    this.ctx.changed(next, t.event);
    return next;
  }

  private async routeFailed(task: TaskRow, basis: string, reason: string, span?: Span): Promise<TaskRow> {
    if (this.planning === basis) this.planning = undefined;
    if (span) endWithError(span, new Error(reason));
    if (task.status !== 'new' || routeBasis(task) !== basis) return task;
    const { task: next } = await this.ctx.store.transition(task.id, 'new', 'needs_review', { patch: { reason }, event: 'routing_failed', detail: reason });
    this.ctx.changed(next, 'routing_failed');
    return next;
  }

  private async dispatch(task: TaskRow, node: string): Promise<TaskRow> {
    const t = decide(this.facts(task), { type: 'dispatch', node });
    if (isRefusal(t)) throw new RefusedError(`task ${task.id}: ${t.refused}`);
    if (t.to !== 'in_progress') {
      const { task: next } = await this.ctx.store.transition(task.id, task.status, t.to, { patch: { reason: t.reason }, event: t.event, detail: t.detail });
      this.ctx.changed(next, t.event);
      return next;
    }
    const token = randomUUID();
    recordQueueWait(task);
    const { task: next, attempt } = await this.ctx.store.transition(task.id, 'routed', 'in_progress', {
      event: t.event, detail: t.detail,
      newAttempt: { token, node, agent: task.agent, model: task.model },
    });
    this.ctx.changed(next, t.event);
    // The assignment's publish (PRODUCER); the node's receive is its CONSUMER child.
    const span = tracer().startSpan('orch.assign publish', {
      kind: SpanKind.PRODUCER,
      attributes: { 'orch.task': task.id, 'orch.attempt': attempt!.number, 'orch.node': node, 'messaging.system': 'nats', 'messaging.operation.type': 'publish' },
    }, contextOf(task.trace));
    try {
      const a = await this.assignment(next, attempt!);
      a.trace = carrierOf(trace.setSpan(contextOf(task.trace), span));
      await this.ctx.publishAssignment(a);
      this.publishedAt.set(token, Date.now());
      span.end();
      this.publishFailures = 0;
    } catch (err) {
      endWithError(span, err);
      this.publishFailures += 1;
      log.warn('could not publish assignment; re-queueing', { task: task.id, failures: this.publishFailures, err });
      // An attempt that never left the coordinator does not count, and the next try waits (1 s .. 30 s).
      return this.lost(next, { attempt: attempt!.number, token, node, why: `assignment not published: ${(err as Error).message}` },
        Math.min(30_000, 1_000 * 2 ** (this.publishFailures - 1)));
    }
    return next;
  }

  /** The Assignment for an attempt (also rebuilt to re-publish after a restart). */
  async assignment(task: TaskRow, attempt: AttemptRow): Promise<Assignment> {
    const project = await this.ctx.project(task.project);
    const input = {
      taskId: task.id, title: task.title, body: task.body, labels: task.labels, project: task.project,
      branch: task.branch, memory: task.memory as AttemptMemory[],
    };
    return {
      taskId: task.id, attempt: attempt.number, token: attempt.token, project: task.project,
      remote: project.remote, baseBranch: project.defaultBranch, branch: task.branch,
      agent: task.agent, model: task.model, title: task.title,
      systemPrompt: systemPrompt(input), prompt: taskPrompt(input),
      timeoutSeconds: this.ctx.settings(task).timeoutSeconds, trace: {}, node: attempt.node,
      complexity: task.complexity, expectHead: task.head,
    };
  }

  private async activeAttempt(task: TaskRow, number: number, token: string): Promise<AttemptRow | string> {
    const a = await this.ctx.store.getAttempt(task.id, number);
    if (!a) return `attempt ${number} of task ${task.id} does not exist`;
    if (a.token !== token) return `attempt ${number} of task ${task.id}: stale fencing token`;
    if (!ACTIVE.includes(a.state)) return `attempt ${number} of task ${task.id} already ended (${a.state})`;
    return a;
  }

  /**
   * The node claims the attempt before its agent starts: accepted once (assigned -> running),
   * and again for the same node (its first answer was lost on the way), refused otherwise.
   */
  private async started(task: TaskRow, s: AttemptStarted): Promise<TaskRow> {
    const a = await this.activeAttempt(task, s.attempt, s.token);
    if (typeof a === 'string') throw new RefusedError(a);
    if (a.node !== s.node) throw new RefusedError(`attempt ${a.number} of task ${task.id} was assigned to ${a.node}, not ${s.node}`);
    if (a.state === 'running') return task;
    const t = decide(this.facts(task), { type: 'started', node: s.node });
    if (isRefusal(t)) throw new RefusedError(`task ${task.id}: ${t.refused}`);
    const { task: next } = await this.ctx.store.transition(task.id, task.status, t.to, {
      event: t.event, detail: t.detail, countAttempt: true,
      attemptUpdate: { number: a.number, token: a.token, patch: { state: 'running', startedAt: new Date(), dir: s.dir, worktree: s.worktree, session: s.session } },
    });
    this.ctx.attemptClaimed(a.node, a.token);
    const published = this.publishedAt.get(a.token);
    this.publishedAt.delete(a.token);
    if (published !== undefined) recordDispatchLatency(a, Date.now() - published);
    return next;
  }

  private async result(task: TaskRow, r: AttemptResult): Promise<TaskRow> {
    const a = await this.activeAttempt(task, r.attempt, r.token);
    if (typeof a === 'string') throw new RefusedError(a);
    const answer = r.answer;
    const rec = r.outcome === 'success' && answer ? undefined : await this.ctx.recover(task, a, r);
    // Delegations become child tasks (created before the parent blocks, routed after it has).
    const children = !rec && answer && ['done', 'in_progress'].includes(answer.status) ? await this.createChildren(task, answer.delegations) : [];
    const ev: LifecycleEvent = children.length
      ? { type: 'answered', status: 'blocked', summary: answer!.summary, reason: waitingReason(children.map((c) => c.id)) }
      : !rec && answer
      ? { type: 'answered', status: normalizeStatus(answer.status), summary: answer.summary, reason: answer.reason || answer.blockers.join('; '),
          review: !!this.ctx.settings(task).prFlow && (r.pushed || task.prNumber !== null) }
      : { type: 'failed', errorClass: r.errorClass || 'Unknown', message: rec?.reason || r.errorMessage || 'the agent failed', retryable: rec?.action !== 'needs_review' };
    // A result of an attempt that never claimed its start (it failed to start) still counts.
    const counting = a.state === 'assigned';
    const t = decide(this.facts(task, counting), ev);
    if (isRefusal(t)) throw new RefusedError(`task ${task.id}: ${t.refused}`);
    const memory: AttemptMemory = {
      attempt: a.number, agent: a.agent, model: a.model, outcome: r.outcome === 'success' ? `answered ${answer?.status}` : `failed (${r.errorClass})`,
      summary: answer?.summary ?? '', error: r.outcome === 'success' ? undefined : r.errorMessage,
      learnings: answer?.learnings ?? [], filesChanged: r.changedFiles?.length ? r.changedFiles : answer?.filesChanged ?? [],
      approach: answer?.accomplished.join('; ') || undefined, diff: r.diff ? boundDiff(r.diff) : undefined,
    };
    const { task: next } = await this.ctx.store.transition(task.id, task.status, t.to, {
      event: t.event, detail: t.detail, countAttempt: counting,
      patch: {
        ...(t.reason !== undefined ? { reason: t.reason } : {}),
        ...(r.pushed && r.commit ? { head: r.commit } : {}),
        ...(answer?.summary ? { summary: answer.summary } : {}),
        ...(answer?.filesChanged.length ? { filesChanged: answer.filesChanged } : {}),
        memory: [...(task.memory as AttemptMemory[]).map(({ diff: _older, ...m }) => m), memory],
        ...(rec?.action === 'reroute' && t.to === 'routed' ? { agent: rec.agent, model: rec.model ?? '' } : {}),
      },
      attemptUpdate: {
        number: a.number, token: a.token, patch: {
          state: t.attemptEnds ?? (r.outcome === 'success' ? 'succeeded' : 'failed'), exitCode: r.exitCode, finishedAt: new Date(),
          summary: answer?.summary ?? '', errorClass: r.errorClass, errorMessage: r.errorMessage,
          inputTokens: r.inputTokens, outputTokens: r.outputTokens, costUsd: r.costUsd, durationMs: r.durationMs,
          cacheReadTokens: r.cacheReadTokens, cacheWriteTokens: r.cacheWriteTokens, costSource: r.costSource,
          dir: r.dir || a.dir, result: { commit: r.commit, pushed: r.pushed, stderrTail: r.stderrTail, answer: answer ?? null },
        },
      },
    });
    this.ctx.attemptEnded(a);
    recordAttemptResult(a, r);
    this.ctx.changed(next, t.event, t.to === 'routed' && rec ? { retryDelayMs: rec.delayMs } : undefined);
    for (const c of children) this.ctx.changed(c, 'created');
    return next;
  }

  private async createChildren(task: TaskRow, delegations: Delegation[]): Promise<TaskRow[]> {
    const out: TaskRow[] = [];
    for (const c of childTasks(task, delegations)) {
      // A child is a task of its own (its own trace), linked to the trace of the task that delegated it.
      const { span, trace } = startIntake('delegation', { 'orch.project': task.project, 'orch.parent_task': task.id }, task.trace);
      out.push(await this.ctx.store.createTask({ ...c, trace }).finally(() => span.end()));
    }
    return out;
  }

  /** A blocked parent whose delegated tasks are all done goes on, with a fresh attempt budget (checked here: the actor owns the task). */
  private async resumeParent(task: TaskRow): Promise<TaskRow> {
    const children = await this.ctx.store.childrenOf(task.id);
    if (!childrenDone(task, children)) return task;
    return this.apply(task, { type: 'children_done', children: children.map((c) => c.id) }, { spent: 0 });
  }

  private async lost(task: TaskRow, m: { attempt: number; token: string; node: string; why: string; counts?: boolean }, retryDelayMs = 0): Promise<TaskRow> {
    const a = await this.activeAttempt(task, m.attempt, m.token);
    if (typeof a === 'string') return task; // already settled: a late loss notice changes nothing
    // A running attempt counted when it started; one that never started counts only when told so.
    const counting = a.state === 'assigned' && m.counts === true;
    const t = decide(this.facts(task, counting), { type: 'lost', node: m.node, why: m.why });
    if (isRefusal(t)) return task;
    const { task: next } = await this.ctx.store.transition(task.id, task.status, t.to, {
      event: t.event, detail: t.detail, countAttempt: counting, ...(t.reason !== undefined ? { patch: { reason: t.reason } } : {}),
      attemptUpdate: { number: a.number, token: a.token, patch: { state: 'lost', finishedAt: new Date(), errorClass: 'Lost', errorMessage: m.why } },
    });
    this.ctx.attemptEnded(a);
    this.publishedAt.delete(a.token);
    recordAttemptEnded(a, 'lost');
    this.ctx.changed(next, t.event, retryDelayMs ? { retryDelayMs } : undefined);
    return next;
  }

  private async currentAttempt(task: TaskRow): Promise<AttemptRow | undefined> {
    if (task.attempts === 0) return undefined;
    const a = await this.ctx.store.getAttempt(task.id, task.attempts);
    return a && ACTIVE.includes(a.state) ? a : undefined;
  }

  private async endRunning(task: TaskRow, ev: LifecycleEvent, by: string): Promise<TaskRow> {
    const t = decide(this.facts(task), ev);
    if (isRefusal(t)) throw new RefusedError(`task ${task.id}: ${t.refused}`);
    const a = await this.currentAttempt(task);
    if (a) await this.ctx.killOnNode(a.node, task.id, a.number, a.token).catch((err) =>
      log.warn('kill did not reach the node; the attempt is fenced off anyway', { task: task.id, node: a.node, err }));
    const { task: next } = await this.ctx.store.transition(task.id, task.status, t.to, {
      event: t.event, detail: t.detail,
      patch: { ...(t.reason !== undefined ? { reason: t.reason } : {}), ...(ev.type === 'close' && ev.note ? { summary: ev.note } : {}) },
      ...(a ? { attemptUpdate: { number: a.number, token: a.token, patch: { state: 'killed', finishedAt: new Date(), errorMessage: `stopped by ${by}` } } } : {}),
    });
    if (a) { this.ctx.attemptEnded(a); recordAttemptEnded(a, 'killed'); }
    this.ctx.changed(next, t.event);
    return next;
  }

  /** Decide and apply an external change; one that ends a running attempt stops it on its node first. */
  private async external(task: TaskRow, m: ExternalChange): Promise<TaskRow> {
    const t = decide(this.facts(task), m.ev);
    if (isRefusal(t)) throw new RefusedError(`task ${task.id}: ${t.refused}`);
    const a = t.attemptEnds === 'killed' ? await this.currentAttempt(task) : undefined;
    if (a) await this.ctx.killOnNode(a.node, task.id, a.number, a.token).catch((err) =>
      log.warn('kill did not reach the node; the attempt is fenced off anyway', { task: task.id, node: a.node, err }));
    const { task: next } = await this.ctx.store.transition(task.id, task.status, t.to, {
      event: t.event, detail: t.detail,
      patch: { ...m.patch, ...(t.reason !== undefined ? { reason: t.reason } : {}), ...(m.memory ? { memory: [...(task.memory as AttemptMemory[]), m.memory] } : {}) },
      ...(a ? { attemptUpdate: { number: a.number, token: a.token, patch: { state: 'killed', finishedAt: new Date(), errorMessage: `stopped: ${t.event}` } } } : {}),
    });
    if (a) { this.ctx.attemptEnded(a); recordAttemptEnded(a, 'killed'); }
    this.ctx.changed(next, t.event);
    return next;
  }

  private kill(task: TaskRow, by: string): Promise<TaskRow> {
    return this.endRunning(task, { type: 'killed', by }, by);
  }

  private close(task: TaskRow, note: string): Promise<TaskRow> {
    return this.endRunning(task, { type: 'close', note }, 'close');
  }
}

function normalizeStatus(s: string): 'done' | 'in_progress' | 'blocked' | 'needs_review' {
  return s === 'done' || s === 'in_progress' || s === 'blocked' || s === 'needs_review' ? s : 'needs_review';
}
