// Routing, as a pure function: which agent runs a task and at which model tier.
// Agent order: explicit --agent > `agent:<name>` label > the LLM router's executor (mode
// llm; a missing or cooling executor, or a failed router, falls to router.fallback_executor,
// then to round-robin) > weighted round-robin over the agents the fleet has.
// Complexity: explicit > `complexity:<tier>` label > the LLM router's > medium.
// The model: a `model:<name>` label, else model_map[tier][agent] (a list: one of its
// models not cooling down). The LLM call itself lives in router-llm.ts / routing.ts.

export type Complexity = 'simple' | 'medium' | 'complex';
export const COMPLEXITIES: readonly Complexity[] = ['simple', 'medium', 'complex'];

/** What the LLM router answered (parsed), or why it gave no usable answer. */
export type LlmVerdict =
  | { executor: string; complexity: Complexity; reason: string }
  | { error: string };

export interface RouteInput {
  agent?: string;
  complexity?: string;
  labels: string[];
  /** The LLM router's verdict, when one was asked for (see wantsLlm). */
  llm?: LlmVerdict;
}

export interface RouterState {
  /** Agents round-robin (and the LLM router) may pick from: what the fleet has installed. */
  agents: string[];
  /** Agents a task may name (label or --agent) even if no node has them now: it then waits. Default: `agents`. */
  known?: string[];
  modelMap: Partial<Record<string, Record<string, string | string[]>>>;
  /** Round-robin cursor: how many tasks were routed round-robin so far. */
  cursor: number;
  fallbackAgent?: string;
  /** Round-robin weights per agent (default 1; 0 = never picked by round-robin). */
  weights?: Record<string, number>;
  /** True while an agent (model '') or one of its models cools down: routing and model lists skip them. */
  cooling?: (agent: string, model: string) => boolean;
  /** Deterministic pick from a model list (tests); default random. */
  pick?: (n: number) => number;
}

/** How the agent was chosen. */
export type RouteSource = 'explicit' | 'label' | 'llm' | 'fallback' | 'round_robin';

export interface RouteDecision {
  agent: string;
  model: string;
  complexity: Complexity;
  reason: string;
  source: RouteSource;
  /** True when the round-robin cursor was used (the caller advances it). */
  usedCursor: boolean;
}

export class RoutingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoutingError';
  }
}

function label(labels: string[], prefix: string): string | undefined {
  const hit = labels.find((l) => l.toLowerCase().startsWith(prefix));
  return hit ? hit.slice(prefix.length).trim() : undefined;
}

/** The agent the task's user fixed (flag or label), if any: then no router is asked. */
export function pinnedAgent(input: Pick<RouteInput, 'agent' | 'labels'>): string | undefined {
  return input.agent || label(input.labels, 'agent:') || undefined;
}

/** Should the LLM router be asked for this task? Only when no one fixed its agent. */
export function wantsLlm(input: Pick<RouteInput, 'agent' | 'labels'>, mode: 'llm' | 'round_robin'): boolean {
  return mode === 'llm' && !pinnedAgent(input);
}

/**
 * The round-robin order for these weights, one cycle long (smooth weighted round-robin:
 * {a: 3, b: 1} gives a a b a, never a burst of one agent longer than its weight needs).
 */
export function weightedCycle(agents: string[], weights: Record<string, number> = {}): string[] {
  const w = agents.map((a) => Math.max(0, Math.floor(weights[a] ?? 1)));
  const total = w.reduce((s, x) => s + x, 0);
  if (total === 0) return [...agents];
  const current = agents.map(() => 0);
  const out: string[] = [];
  for (let step = 0; step < total; step++) {
    let best = -1;
    for (let i = 0; i < agents.length; i++) {
      current[i] += w[i];
      if (w[i] > 0 && (best < 0 || current[i] > current[best])) best = i;
    }
    current[best] -= total;
    out.push(agents[best]);
  }
  return out;
}

function roundRobin(state: RouterState): { agent: string; reason: string } | undefined {
  const cycle = weightedCycle(state.agents, state.weights);
  const n = cycle.length;
  if (!n) return undefined;
  const inTurn = cycle[state.cursor % n];
  // The next agent in turn that is not cooling down (the one in turn when all are).
  const free = Array.from({ length: n }, (_, i) => cycle[(state.cursor + i) % n]).find((a) => !state.cooling?.(a, ''));
  const weighted = state.weights && Object.keys(state.weights).length ? 'weighted round-robin' : 'round-robin';
  return { agent: free ?? inTurn, reason: free && free !== inTurn ? `${weighted} (skipping agents cooling down)` : weighted };
}

/** The model for an agent at a tier (review too): a list gives one not cooling down, at random. */
export function modelFor(tier: string, agent: string, state: Pick<RouterState, 'modelMap' | 'cooling' | 'pick'>): string {
  const entry = state.modelMap[tier]?.[agent];
  if (typeof entry === 'string') return entry;
  if (!Array.isArray(entry) || entry.length === 0) return '';
  const warm = entry.filter((m) => !state.cooling?.(agent, m));
  const from = warm.length ? warm : entry;
  return from[(state.pick ?? ((n) => Math.floor(Math.random() * n)))(from.length) % from.length];
}

export function route(input: RouteInput, state: RouterState): RouteDecision {
  const verdict = input.llm && 'executor' in input.llm ? input.llm : undefined;
  const complexityRaw = input.complexity || label(input.labels, 'complexity:') || verdict?.complexity || 'medium';
  if (!COMPLEXITIES.includes(complexityRaw as Complexity)) {
    throw new RoutingError(`unknown complexity "${complexityRaw}": use simple, medium or complex`);
  }
  const complexity = complexityRaw as Complexity;
  const usable = (a: string | undefined): a is string => !!a && state.agents.includes(a) && !state.cooling?.(a, '');

  let agent: string | undefined;
  let reason: string;
  let source: RouteSource;
  let usedCursor = false;
  if (input.agent) {
    agent = input.agent;
    reason = 'agent chosen by the user';
    source = 'explicit';
  } else if (label(input.labels, 'agent:')) {
    agent = label(input.labels, 'agent:');
    reason = `label agent:${agent}`;
    source = 'label';
  } else if (verdict && usable(verdict.executor)) {
    agent = verdict.executor;
    reason = `router: ${verdict.reason || 'no reason given'}`;
    source = 'llm';
  } else {
    // Why the router's answer is not taken (when one was asked for).
    const why = !input.llm ? ''
      : 'error' in input.llm ? `router failed (${input.llm.error})`
      : !state.agents.includes(input.llm.executor) ? `router chose ${input.llm.executor}, which no node has`
      : `router chose ${input.llm.executor}, which is cooling down`;
    const rr = roundRobin(state);
    if (input.llm && usable(state.fallbackAgent)) {
      agent = state.fallbackAgent;
      reason = `${why}; fallback executor ${agent}`;
      source = 'fallback';
    } else if (rr) {
      agent = rr.agent;
      reason = why ? `${why}; ${rr.reason}` : rr.reason;
      source = 'round_robin';
      usedCursor = true;
    } else if (state.fallbackAgent) {
      agent = state.fallbackAgent;
      reason = why ? `${why}; fallback executor` : 'fallback executor';
      source = 'fallback';
    } else {
      throw new RoutingError('no agent is configured: add one under `agents:` in config.yml or pass --agent');
    }
  }
  const known = state.known ?? state.agents;
  if (!agent || (!state.agents.includes(agent) && !known.includes(agent))) {
    throw new RoutingError(`agent "${agent}" is not configured or not enabled (known: ${known.join(', ') || 'none'})`);
  }
  const pinned = label(input.labels, 'model:');
  const model = pinned || modelFor(complexity, agent, state);
  return { agent, model, complexity, reason, source, usedCursor };
}
