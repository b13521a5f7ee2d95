// Routing a task, with I/O: in llm mode the router agent is asked (one-shot, on a node that
// has it) for a decision, with bounded tries; then the pure router (router.ts) decides with
// that verdict, labels, flags, cooldowns and weights. Plans run outside the task's actor
// (the task waits in `new`), many at once; one plan per task at a time.
import type { OrchConfig } from '../runtime/config/index.js';
import { logger } from '../runtime/log.js';
import { COMPLEXITIES, modelFor, route, wantsLlm, type Complexity, type LlmVerdict, type RouteDecision, type RouterState } from './router.js';
import { parseRouterAnswer, ROUTER_SYSTEM, routerPrompt } from './router-llm.js';
import type { RouteRecord } from './store/routing.js';
import type { TaskRow } from './store/rows.js';
import type { Asker } from './ask.js';
import { recordRouterCall } from './metrics.js';

const log = logger('router');

/** Router failures after which asking again cannot help (the next tries would fail the same way). */
const FINAL = new Set(['NoNode', 'Auth', 'MissingTool']);
/** Tasks in a row whose router failed before the router is paused (as the Rust orch: after 3 failures). */
const TRIP_AFTER = 3;
/** How long a tripped router is not asked (tasks go the fallback way without waiting for it). */
const PAUSE_MS = 5 * 60_000;

export interface RoutePlan {
  decision: RouteDecision;
  record: RouteRecord;
  /** The task's routing inputs the plan was made for: a plan for other inputs is stale. */
  basis: string;
}

export interface RoutingDeps {
  asker: Asker;
  config(project: string): OrchConfig;
  /** The pure router's state for a project (the fleet's agents, cooldowns, cursor, weights). */
  state(project: string): RouterState;
  /** Round-robin was used: move the cursor on. */
  advanceCursor(): void;
  /** Agents some live node has now. */
  liveAgents(): string[];
  /**
   * Until then (ms) the fleet may still be registering (the coordinator just started): a
   * router agent no live node has yet is waited for rather than routed round-robin.
   */
  fleetSettlesAt?: () => number;
  now?: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The routing inputs of a task (what makes an earlier plan stale when it changes). */
export function routeBasis(t: Pick<TaskRow, 'agent' | 'complexity' | 'labels'>): string {
  return JSON.stringify([t.agent, t.complexity, [...t.labels].sort()]);
}

export class Routing {
  private inFlight = new Map<number, { basis: string; plan: Promise<RoutePlan> }>();
  /** Tasks in a row whose router call failed; at TRIP_AFTER the router pauses until `pausedUntil`. */
  private failures = 0;
  private pausedUntil = 0;

  constructor(private readonly d: RoutingDeps) {}

  /** llm or round_robin: as configured, else llm while router.agent is set and a live node has it. */
  mode(project: string): 'llm' | 'round_robin' {
    const r = this.d.config(project).router ?? {};
    if (r.mode) return r.mode;
    return r.agent && this.d.liveAgents().includes(r.agent) ? 'llm' : 'round_robin';
  }

  /** Routing calls in flight now (for tests and status). */
  get pending(): number { return this.inFlight.size; }

  /** The model of a review run by this agent (model_map.review). */
  reviewModel(project: string, agent: string): string {
    return modelFor('review', agent, this.d.state(project));
  }

  private now(): number { return this.d.now?.() ?? Date.now(); }

  /** Is this task's routing being planned now? */
  planning(taskId: number): boolean { return this.inFlight.has(taskId); }

  /** Plan a task's routing; a second call while one runs for the same inputs shares it. */
  plan(task: TaskRow): Promise<RoutePlan> {
    const basis = routeBasis(task);
    const running = this.inFlight.get(task.id);
    if (running && running.basis === basis) return running.plan;
    const plan = this.make(task, basis).finally(() => {
      if (this.inFlight.get(task.id)?.plan === plan) this.inFlight.delete(task.id);
    });
    this.inFlight.set(task.id, { basis, plan });
    return plan;
  }

  private async make(task: TaskRow, basis: string): Promise<RoutePlan> {
    const cfg = this.d.config(task.project);
    let mode = this.mode(task.project);
    // Just started: the node with the router agent may not have registered yet (the task stays new meanwhile).
    while (mode === 'round_robin' && !cfg.router?.mode && cfg.router?.agent && Date.now() < (this.d.fleetSettlesAt?.() ?? 0)) {
      await sleep(200);
      mode = this.mode(task.project);
    }
    const input = { agent: task.agent || undefined, complexity: task.complexity || undefined, labels: task.labels };
    const state = this.d.state(task.project);
    const usage = { routerAgent: '', routerModel: '', routerNode: '', tries: 0, routerError: '', inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0, costUsd: 0, durationMs: 0 };
    let llm: LlmVerdict | undefined;
    if (wantsLlm(input, mode)) {
      if (this.now() < this.pausedUntil) {
        llm = { error: `router paused after ${TRIP_AFTER} failures in a row, until ${new Date(this.pausedUntil).toISOString()}` };
      } else {
        llm = await this.askRouter(task, cfg, state, usage);
        this.failures = 'error' in llm ? this.failures + 1 : 0;
        if (this.failures >= TRIP_AFTER) {
          this.pausedUntil = this.now() + PAUSE_MS;
          this.failures = 0;
          log.error('router failed for several tasks in a row; not asking it for a while', { failures: TRIP_AFTER, until: new Date(this.pausedUntil).toISOString() });
        }
      }
      if ('error' in llm) usage.routerError = llm.error;
    }
    // The state again after the call: cooldowns, the fleet and the cursor may have moved meanwhile.
    const decision = route({ ...input, llm }, llm ? this.d.state(task.project) : state);
    if (decision.usedCursor) this.d.advanceCursor();
    if (llm && 'executor' in llm && decision.source !== 'llm' && !usage.routerError) {
      usage.routerError = decision.reason.split(';')[0]; // the router's pick was not taken (missing or cooling)
    }
    return {
      decision, basis,
      record: { mode, source: decision.source, agent: decision.agent, model: decision.model, complexity: decision.complexity, reason: decision.reason, ...usage },
    };
  }

  /** Ask the router agent, up to router.max_tries times; the usage of every try is added up. */
  private async askRouter(task: TaskRow, cfg: OrchConfig, state: RouterState, usage: Omit<RouteRecord, 'mode' | 'source' | 'agent' | 'model' | 'complexity' | 'reason'>): Promise<LlmVerdict> {
    const r = cfg.router ?? {};
    const agent = r.agent || 'claude';
    const tries = r.max_tries ?? 2;
    const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
    const prompt = routerPrompt({
      taskId: task.id, title: task.title, body: task.body, labels: task.labels,
      agents: state.agents.map((name) => ({
        name, models: Object.fromEntries(COMPLEXITIES.map((c) => [c, first(state.modelMap[c]?.[name])]).filter(([, m]) => m)) as Partial<Record<Complexity, string>>,
      })),
    });
    usage.routerAgent = agent;
    usage.routerModel = r.model ?? '';
    let verdict: LlmVerdict = { error: 'the router was not asked' };
    for (let i = 0; i < tries; i++) {
      usage.tries += 1;
      try {
        const res = await this.d.asker.ask({
          purpose: 'route', agent, model: r.model || undefined, system: ROUTER_SYSTEM, prompt, taskId: task.id,
          timeoutMs: (r.timeout_seconds ?? 120) * 1000, trace: task.trace,
        });
        usage.routerModel = res.model || usage.routerModel;
        usage.routerNode = res.node;
        usage.inputTokens += res.inputTokens;
        usage.outputTokens += res.outputTokens;
        usage.cacheReadTokens += res.cacheReadTokens;
        usage.cacheWriteTokens += res.cacheWriteTokens;
        usage.costUsd += res.costUsd;
        usage.durationMs += res.durationMs;
        recordRouterCall(agent, res);
        verdict = parseRouterAnswer(res.text);
        if (!('error' in verdict)) return verdict;
        log.warn('router answer rejected', { task: task.id, try: i + 1, why: verdict.error });
      } catch (err) {
        const cls = (err as { errorClass?: string }).errorClass ?? 'Unknown';
        verdict = { error: `${cls}: ${(err as Error).message}` };
        log.warn('router call failed', { task: task.id, try: i + 1, errorClass: cls, err: (err as Error).message });
        if (FINAL.has(cls)) break;
      }
    }
    return verdict;
  }
}
