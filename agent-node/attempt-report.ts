// What an attempt reports about itself beyond the answer: its cost (the agent's own, else
// orch's price table) and result.json in the Rust orch's shape.
import type { Assignment, AttemptResult } from '../proto/gen/orch/v1/types.js';
import type { Price } from '../runtime/config/schema.js';
import { costOf, priceFor } from '../runtime/pricing.js';
import type { AgentRun } from './agents/types.js';

export function attemptCost(run: AgentRun, pricing: Record<string, Price>, agent: string, model: string): { costUsd: number; costSource: string } {
  if (run.costUsd !== undefined) return { costUsd: run.costUsd, costSource: 'agent' };
  if (run.inputTokens + run.cacheReadTokens + run.cacheWriteTokens + run.outputTokens === 0) return { costUsd: 0, costSource: '' };
  const price = priceFor(pricing, agent, model);
  return price ? { costUsd: costOf(run, price), costSource: 'pricing' } : { costUsd: 0, costSource: '' };
}

/** result.json in the Rust orch's shape (plus commit/push facts). */
export function resultJson(r: AttemptResult, a: Assignment): Record<string, unknown> {
  if (r.outcome === 'success' && r.answer) {
    return {
      outcome: 'success', agent: a.agent, model: a.model, exit_code: r.exitCode, attempt: a.attempt,
      status: r.answer.status, summary: r.answer.summary, input_tokens: r.inputTokens, cache_read_tokens: r.cacheReadTokens,
      cache_write_tokens: r.cacheWriteTokens, output_tokens: r.outputTokens, cost_usd: r.costUsd, cost_source: r.costSource, duration_ms: r.durationMs, files: r.answer.filesChanged, accomplished: r.answer.accomplished,
      remaining: r.answer.remaining, blockers: r.answer.blockers, learnings: r.answer.learnings, delegations: r.answer.delegations,
      commit: r.commit, pushed: r.pushed,
    };
  }
  return {
    outcome: 'error', agent: a.agent, model: a.model, exit_code: r.exitCode, attempt: a.attempt, error_class: r.errorClass,
    error_message: r.errorMessage, stderr_tail: r.stderrTail, commit: r.commit, pushed: r.pushed, duration_ms: r.durationMs,
    input_tokens: r.inputTokens, cache_read_tokens: r.cacheReadTokens, cache_write_tokens: r.cacheWriteTokens, output_tokens: r.outputTokens,
    cost_usd: r.costUsd, cost_source: r.costSource, retry_after_seconds: r.retryAfterSeconds,
  };
}
