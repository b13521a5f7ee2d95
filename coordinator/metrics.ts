// The coordinator's metrics, recorded where the task actor decides (see
// runtime/telemetry/metrics.ts for the instruments). All no-ops while telemetry is off.
import type { AttemptResult } from '../proto/gen/orch/v1/types.js';
import { observeGauge, orchMetrics } from '../runtime/telemetry/metrics.js';
import type { AskResult } from './ask.js';
import type { AttemptRow, Store, TaskRow } from './store/store.js';

function who(a: Pick<AttemptRow, 'agent' | 'model' | 'node'>, r?: AttemptResult) {
  return { 'gen_ai.agent.name': a.agent, 'gen_ai.request.model': r?.model || a.model, 'orch.node': r?.node || a.node };
}

/** Tasks by status, read from the store each time the metrics are collected. */
export function observeTasks(store: Store): () => void {
  return observeGauge('orch.tasks', { unit: '{task}', description: 'Tasks by status' }, async (observe) => {
    for (const [status, n] of Object.entries(await store.taskStatusCounts())) observe(n, { 'orch.task.status': status });
  });
}

/** A task leaves the queue: how long it waited, routed, for a node. */
export function recordQueueWait(task: TaskRow): void {
  orchMetrics().queueWait.record(Math.max(0, Date.now() - task.updatedAt.getTime()) / 1000, { 'gen_ai.agent.name': task.agent, 'orch.project': task.project });
}

/** An attempt's node claimed its start `ms` after the assignment was published. */
export function recordDispatchLatency(a: AttemptRow, ms: number): void {
  orchMetrics().dispatchLatency.record(ms / 1000, { 'gen_ai.agent.name': a.agent, 'orch.node': a.node });
}

/** An attempt ended with a result from its node: the attempt, its run time, tokens and cost. */
export function recordAttemptResult(a: AttemptRow, r: AttemptResult): void {
  const m = orchMetrics();
  const attrs = who(a, r);
  m.attempts.add(1, { ...attrs, 'orch.outcome': r.outcome, ...(r.errorClass ? { 'error.type': r.errorClass } : {}) });
  if (r.durationMs > 0) m.runDuration.record(r.durationMs / 1000, { ...attrs, 'orch.outcome': r.outcome });
  recordUsage(r, { ...attrs, 'orch.purpose': 'task' });
}

/** One call of the LLM router answered: its tokens and cost, apart from agent runs (orch.purpose route). */
export function recordRouterCall(agent: string, r: AskResult): void {
  recordUsage(r, { 'gen_ai.agent.name': agent, 'gen_ai.request.model': r.model, 'orch.node': r.node, 'orch.purpose': 'route' });
}

type UsageFields = Pick<AttemptResult, 'inputTokens' | 'outputTokens' | 'cacheReadTokens' | 'cacheWriteTokens' | 'costUsd'>;

function recordUsage(r: UsageFields, attrs: Record<string, string>): void {
  const m = orchMetrics();
  const tokens: Array<[string, number]> = [['input', r.inputTokens], ['output', r.outputTokens], ['cache_read', r.cacheReadTokens], ['cache_write', r.cacheWriteTokens]];
  for (const [type, n] of tokens) if (n > 0) m.tokens.add(n, { ...attrs, 'gen_ai.token.type': type });
  if (r.costUsd > 0) m.cost.add(r.costUsd, attrs);
}

/** An attempt ended without a result (lost with its node, or killed). */
export function recordAttemptEnded(a: AttemptRow, outcome: 'lost' | 'killed'): void {
  orchMetrics().attempts.add(1, { ...who(a), 'orch.outcome': outcome });
}
