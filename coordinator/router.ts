// Routing, as a pure function: which agent runs a task and at which model tier.
// Order (as in the Rust orch): explicit --agent > `agent:<name>` label > round-robin
// over enabled agents. Complexity: explicit > `complexity:<tier>` label > medium.
// The model comes from model_map[tier][agent] (a list means: pick one), unless a
// `model:<name>` label names it.

export type Complexity = 'simple' | 'medium' | 'complex';
export const COMPLEXITIES: readonly Complexity[] = ['simple', 'medium', 'complex'];

export interface RouteInput {
  agent?: string;
  complexity?: string;
  labels: string[];
}

export interface RouterState {
  /** Agents round-robin picks from (what the fleet has installed). */
  agents: string[];
  /** Agents a task may name (label or --agent) even if no node has them now: it then waits. Default: `agents`. */
  known?: string[];
  modelMap: Partial<Record<string, Record<string, string | string[]>>>;
  /** Round-robin cursor: how many tasks were routed round-robin so far. */
  cursor: number;
  fallbackAgent?: string;
  /** True while an agent (model '') or one of its models cools down: round-robin and model lists skip them. */
  cooling?: (agent: string, model: string) => boolean;
  /** Deterministic pick from a model list (tests); default random. */
  pick?: (n: number) => number;
}

export interface RouteDecision {
  agent: string;
  model: string;
  complexity: Complexity;
  reason: string;
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

export function route(input: RouteInput, state: RouterState): RouteDecision {
  const complexityRaw = input.complexity || label(input.labels, 'complexity:') || 'medium';
  if (!COMPLEXITIES.includes(complexityRaw as Complexity)) {
    throw new RoutingError(`unknown complexity "${complexityRaw}": use simple, medium or complex`);
  }
  const complexity = complexityRaw as Complexity;

  let agent: string | undefined;
  let reason: string;
  let usedCursor = false;
  if (input.agent) {
    agent = input.agent;
    reason = 'agent chosen by the user';
  } else if (label(input.labels, 'agent:')) {
    agent = label(input.labels, 'agent:');
    reason = `label agent:${agent}`;
  } else if (state.agents.length > 0) {
    // The next agent in turn that is not cooling down (the one in turn when all are).
    const n = state.agents.length;
    const free = Array.from({ length: n }, (_, i) => state.agents[(state.cursor + i) % n]).find((a) => !state.cooling?.(a, ''));
    agent = free ?? state.agents[state.cursor % n];
    reason = free && free !== state.agents[state.cursor % n] ? 'round-robin (skipping agents cooling down)' : 'round-robin';
    usedCursor = true;
  } else if (state.fallbackAgent) {
    agent = state.fallbackAgent;
    reason = 'fallback executor';
  } else {
    throw new RoutingError('no agent is configured: add one under `agents:` in config.yml or pass --agent');
  }
  const known = state.known ?? state.agents;
  if (!agent || (!state.agents.includes(agent) && !known.includes(agent))) {
    throw new RoutingError(`agent "${agent}" is not configured or not enabled (known: ${known.join(', ') || 'none'})`);
  }

  const entry = state.modelMap[complexity]?.[agent];
  let model = '';
  if (Array.isArray(entry)) {
    const warm = entry.filter((m) => !state.cooling?.(agent!, m));
    const from = warm.length ? warm : entry;
    if (from.length > 0) model = from[(state.pick ?? ((n) => Math.floor(Math.random() * n)))(from.length) % from.length];
  } else if (typeof entry === 'string') {
    model = entry;
  }
  const pinned = label(input.labels, 'model:');
  if (pinned) model = pinned;
  return { agent, model, complexity, reason, usedCursor };
}
