// What happens after a failed attempt, as a pure function of its error class: cool the
// agent or model down (persisted, backoff doubling per strike, the provider's retry-after
// honoured), reroute to router.fallback_executor, retry with backoff, or needs_review with
// the reason. TaskActor applies the decision; cooldowns.ts keeps the cooldowns.

export type RecoveryAction = 'retry' | 'reroute' | 'needs_review';

export interface RecoveryInput {
  errorClass: string;
  message: string;
  agent: string;
  model: string;
  /** Number of the attempt that failed. */
  attempt: number;
  /** router.fallback_executor (ignored when it is the failing agent itself). */
  fallbackAgent?: string;
  /** The provider's retry-after, when the agent showed it (0 = none). */
  retryAfterSeconds?: number;
  /** Cooldowns this scope already had in a row (0 = none): the backoff exponent. */
  strikes: number;
  /** workflow.cooldown_seconds: the first cooldown. */
  cooldownBaseSeconds: number;
  /** workflow.retry_delay_seconds in ms: the first retry delay. */
  retryBaseMs: number;
}

export interface Recovery {
  action: RecoveryAction;
  /** Set for reroute. */
  agent?: string;
  /** Cooldown to persist: scope `agent` or `agent/model`. */
  cooldown?: { scope: string; seconds: number };
  /** Wait before the next attempt is dispatched. */
  delayMs: number;
  /** What happened and what follows, for the task's history and (needs_review) tasks.reason; the class is prefixed there. */
  reason: string;
}

const MAX_COOLDOWN_S = 6 * 3600;
const MAX_RETRY_MS = 120_000;

type Rule = {
  /** What the class cools down, if anything. */
  cools?: 'agent' | 'model';
  /** With a fallback agent configured: go there. */
  reroutes: boolean;
  /** Without one: retry the same agent, or stop for a person. */
  otherwise: 'retry' | 'needs_review';
  /** What a person should do (needs_review). */
  hint: string;
};

export const RULES: Record<string, Rule> = {
  RateLimit: { cools: 'model', reroutes: true, otherwise: 'retry', hint: 'wait for the provider limit to reset' },
  Auth: { cools: 'agent', reroutes: true, otherwise: 'needs_review', hint: "fix the agent's credentials, then `orch task retry`" },
  ModelUnavailable: { cools: 'model', reroutes: true, otherwise: 'needs_review', hint: 'pick a model the provider serves (model_map), then `orch task retry`' },
  ContextOverflow: { reroutes: true, otherwise: 'needs_review', hint: 'split the task or use a model with a larger context' },
  MissingTool: { reroutes: true, otherwise: 'needs_review', hint: 'install the agent on the node or fix agents.<name>.command' },
  PermissionDenied: { reroutes: false, otherwise: 'needs_review', hint: "allow the action in the agent's permission settings" },
  WaitingForInput: { reroutes: false, otherwise: 'needs_review', hint: 'the agent asked a question: answer it in the task body and retry' },
  Timeout: { reroutes: false, otherwise: 'retry', hint: '' },
  InvalidResponse: { reroutes: false, otherwise: 'retry', hint: '' },
  AgentFailed: { reroutes: false, otherwise: 'retry', hint: '' },
  NetworkError: { reroutes: false, otherwise: 'retry', hint: '' },
  Vanished: { reroutes: false, otherwise: 'retry', hint: '' },
  Unknown: { reroutes: false, otherwise: 'retry', hint: '' },
};

export function cooldownSeconds(base: number, strikes: number, retryAfterSeconds?: number): number {
  const backoff = Math.min(MAX_COOLDOWN_S, base * 2 ** Math.max(0, strikes));
  // The provider knows best when its limit resets.
  return retryAfterSeconds && retryAfterSeconds > 0 ? Math.min(MAX_COOLDOWN_S, Math.ceil(retryAfterSeconds)) : backoff;
}

export function retryDelayMs(base: number, attempt: number): number {
  return Math.min(MAX_RETRY_MS, base * 2 ** Math.max(0, attempt - 1));
}

export function decideRecovery(i: RecoveryInput): Recovery {
  const rule = RULES[i.errorClass] ?? RULES.Unknown;
  const what = i.message;
  const cooldown = rule.cools
    ? { scope: rule.cools === 'model' && i.model ? `${i.agent}/${i.model}` : i.agent, seconds: cooldownSeconds(i.cooldownBaseSeconds, i.strikes, i.retryAfterSeconds) }
    : undefined;
  const fallback = i.fallbackAgent && i.fallbackAgent !== i.agent ? i.fallbackAgent : undefined;
  if (rule.reroutes && fallback) {
    return { action: 'reroute', agent: fallback, cooldown, delayMs: 0, reason: `${what} (rerouted from ${i.agent} to ${fallback})` };
  }
  if (rule.otherwise === 'needs_review') {
    return { action: 'needs_review', cooldown, delayMs: 0, reason: `${what}${rule.hint ? ` — ${rule.hint}` : ''}` };
  }
  // Retrying into a cooldown is pointless: wait it out.
  const delayMs = Math.max(retryDelayMs(i.retryBaseMs, i.attempt), cooldown ? cooldown.seconds * 1000 : 0);
  return { action: 'retry', cooldown, delayMs, reason: what };
}
