// Applies recovery.ts's decision for one failed attempt: the cooldown's strikes come from
// (and the new cooldown goes to) the persisted book; a reroute gets its model from routing.
import type { AttemptResult } from '../proto/gen/orch/v1/types.js';
import type { OrchConfig } from '../runtime/config/index.js';
import type { Cooldowns } from './cooldowns.js';
import { decideRecovery, type Recovery, type RecoveryInput } from './recovery.js';
import type { RouteDecision } from './router.js';
import type { AttemptRow, TaskRow } from './store/store.js';

export interface RecoveryDeps {
  cooldowns: Cooldowns;
  config(task: TaskRow): OrchConfig;
  /** Routing with the agent pinned (throws when that agent is not configured). */
  route(task: TaskRow): RouteDecision;
}

export async function recoverFromFailure(d: RecoveryDeps, task: TaskRow, a: AttemptRow, r: AttemptResult): Promise<Recovery & { model?: string }> {
  const cfg = d.config(task);
  const input: RecoveryInput = {
    errorClass: r.errorClass || 'Unknown', message: r.errorMessage || 'the agent failed', agent: a.agent, model: r.model || a.model,
    attempt: a.number, fallbackAgent: cfg.router?.fallback_executor, retryAfterSeconds: r.retryAfterSeconds, strikes: 0,
    cooldownBaseSeconds: cfg.workflow.cooldown_seconds ?? 300, retryBaseMs: (cfg.workflow.retry_delay_seconds ?? 10) * 1000,
  };
  // The scope a class cools is known from a first look; its strikes set the backoff.
  const scope = decideRecovery(input).cooldown?.scope;
  const rec: Recovery & { model?: string } = decideRecovery({ ...input, strikes: scope ? d.cooldowns.strikes(scope) : 0 });
  if (rec.cooldown) await d.cooldowns.put(rec.cooldown.scope, rec.cooldown.seconds, input.errorClass, input.message);
  if (rec.action === 'reroute' && rec.agent) {
    try {
      rec.model = d.route({ ...task, agent: rec.agent }).model;
    } catch (err) {
      return { action: 'needs_review', delayMs: 0, cooldown: rec.cooldown, reason: `${input.message} — the fallback agent ${rec.agent} cannot take it: ${(err as Error).message}` };
    }
  }
  return rec;
}
