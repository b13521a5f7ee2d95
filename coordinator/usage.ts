// Tokens and cost read back: per task (`orch task cost`) and over a window (`orch metrics`).
// Pure aggregation of attempt rows into the proto shapes; the store only fetches.
import type { AttemptCost, CostGroup, MetricsResponse, RouterCostGroup, TaskCostResponse, Usage } from '../proto/gen/orch/v1/coordinator.js';
import type { RouterUsageRow } from './store/routing.js';
import type { AttemptRow } from './store/store.js';

export function emptyUsage(): Usage {
  return { inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0, costUsd: 0 };
}

export function usageOf(a: AttemptRow): Usage {
  return { inputTokens: a.inputTokens, cacheReadTokens: a.cacheReadTokens, cacheWriteTokens: a.cacheWriteTokens, outputTokens: a.outputTokens, costUsd: a.costUsd };
}

export function addUsage(into: Usage, u: Usage): Usage {
  into.inputTokens += u.inputTokens;
  into.cacheReadTokens += u.cacheReadTokens;
  into.cacheWriteTokens += u.cacheWriteTokens;
  into.outputTokens += u.outputTokens;
  // Sums of floats drift; a micro-dollar is the finest unit any price table has.
  into.costUsd = Math.round((into.costUsd + u.costUsd) * 1e6) / 1e6;
  return into;
}

export function taskCost(taskId: number, attempts: AttemptRow[], routing: Usage = emptyUsage()): TaskCostResponse {
  const rows: AttemptCost[] = attempts.map((a) => ({
    attempt: a.number, agent: a.agent, model: a.model, node: a.node, state: a.state, usage: usageOf(a), costSource: a.costSource,
  }));
  const total = emptyUsage();
  for (const a of attempts) addUsage(total, usageOf(a));
  addUsage(total, routing);
  // The database's float sum, rounded to the micro-dollar as every sum here is.
  return { taskId, attempts: rows, total, routing: addUsage(emptyUsage(), routing) };
}

const ENDED = new Set(['succeeded', 'failed', 'lost', 'killed']);

/** The router's usage by agent/model (the costliest first); its sum is the window's routing. */
export function routerGroups(rows: RouterUsageRow[]): { byRouter: RouterCostGroup[]; routing: Usage } {
  const routing = emptyUsage();
  const byRouter = rows.map((r) => {
    const usage = addUsage(emptyUsage(), { inputTokens: r.inputTokens, cacheReadTokens: r.cacheReadTokens, cacheWriteTokens: r.cacheWriteTokens, outputTokens: r.outputTokens, costUsd: r.costUsd });
    addUsage(routing, usage);
    return { key: `${r.agent || '-'}/${r.model || 'default'}`, agent: r.agent, model: r.model, calls: r.calls, routings: r.routings, usage };
  }).sort((x, y) => y.usage.costUsd - x.usage.costUsd || x.key.localeCompare(y.key));
  return { byRouter, routing };
}

export function metrics(sinceSeconds: number, tasksByStatus: Record<string, number>, attempts: AttemptRow[], routes: RouterUsageRow[] = []): MetricsResponse {
  const groups = (key: (a: AttemptRow) => string): CostGroup[] => {
    const m = new Map<string, CostGroup>();
    for (const a of attempts) {
      const k = key(a);
      const g = m.get(k) ?? { key: k, attempts: 0, usage: emptyUsage() };
      g.attempts++;
      addUsage(g.usage!, usageOf(a));
      m.set(k, g);
    }
    return [...m.values()].sort((x, y) => y.usage!.costUsd - x.usage!.costUsd || x.key.localeCompare(y.key));
  };
  const ended = attempts.filter((a) => ENDED.has(a.state));
  const succeeded = ended.filter((a) => a.state === 'succeeded').length;
  const total = emptyUsage();
  for (const a of attempts) addUsage(total, usageOf(a));
  const { byRouter, routing } = routerGroups(routes);
  addUsage(total, routing);
  const errorsByClass: Record<string, number> = {};
  for (const a of ended) if (a.state !== 'succeeded' && a.errorClass) errorsByClass[a.errorClass] = (errorsByClass[a.errorClass] ?? 0) + 1;
  return {
    sinceSeconds, tasksByStatus, attempts: attempts.length, attemptsSucceeded: succeeded,
    successRate: ended.length ? Math.round((succeeded / ended.length) * 1000) / 1000 : 0,
    byAgent: groups((a) => a.agent || '-'), byModel: groups((a) => `${a.agent || '-'}/${a.model || 'default'}`),
    byNode: groups((a) => a.node || '-'), total, errorsByClass, byRouter, routing,
  };
}
