// Routing decisions in the store (task_routes): written in the transaction that routes the
// task, read back for `orch task get`. A task routed again (retry, `orch task route`) gets
// a new row; the latest one is the decision in force.
import type pg from 'pg';

export interface RouteRecord {
  mode: 'llm' | 'round_robin';
  source: string;
  agent: string;
  model: string;
  complexity: string;
  reason: string;
  routerAgent: string;
  routerModel: string;
  routerNode: string;
  /** Routing calls made (0: the router was not asked). */
  tries: number;
  /** Why the router's answer was not used ('' when it was, or none was asked). */
  routerError: string;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  costUsd: number;
  durationMs: number;
}

export interface RouteRow extends RouteRecord {
  taskId: number;
  at: Date;
}

export async function insertRoute(c: pg.ClientBase, taskId: number, r: RouteRecord): Promise<void> {
  await c.query(
    `insert into task_routes (task_id, mode, source, agent, model, complexity, reason, router_agent, router_model, router_node, tries,
       router_error, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, cost_usd, duration_ms)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [taskId, r.mode, r.source, r.agent, r.model, r.complexity, r.reason.slice(0, 1000), r.routerAgent, r.routerModel, r.routerNode, r.tries,
      r.routerError.slice(0, 1000), r.inputTokens, r.cacheReadTokens, r.cacheWriteTokens, r.outputTokens, r.costUsd, Math.round(r.durationMs)]);
}

function routeRow(r: Record<string, any>): RouteRow {
  return {
    taskId: Number(r.task_id), at: r.at, mode: r.mode, source: r.source, agent: r.agent, model: r.model, complexity: r.complexity,
    reason: r.reason, routerAgent: r.router_agent, routerModel: r.router_model, routerNode: r.router_node, tries: r.tries,
    routerError: r.router_error, inputTokens: Number(r.input_tokens), cacheReadTokens: Number(r.cache_read_tokens),
    cacheWriteTokens: Number(r.cache_write_tokens), outputTokens: Number(r.output_tokens), costUsd: r.cost_usd, durationMs: Number(r.duration_ms),
  };
}

/** The decision in force for a task (its latest routing), if it was ever routed. */
export async function latestRoute(pool: pg.Pool, taskId: number): Promise<RouteRow | undefined> {
  const r = await pool.query('select * from task_routes where task_id = $1 order by id desc limit 1', [taskId]);
  return r.rows[0] ? routeRow(r.rows[0]) : undefined;
}

/** What routing itself used, over every routing of the task. */
export async function routingUsage(pool: pg.Pool, taskId: number): Promise<{ inputTokens: number; cacheReadTokens: number; cacheWriteTokens: number; outputTokens: number; costUsd: number }> {
  const r = await pool.query(
    `select coalesce(sum(input_tokens), 0) as i, coalesce(sum(cache_read_tokens), 0) as cr, coalesce(sum(cache_write_tokens), 0) as cw,
       coalesce(sum(output_tokens), 0) as o, coalesce(sum(cost_usd), 0) as c from task_routes where task_id = $1`, [taskId]);
  const x = r.rows[0];
  return { inputTokens: Number(x.i), cacheReadTokens: Number(x.cr), cacheWriteTokens: Number(x.cw), outputTokens: Number(x.o), costUsd: Number(x.c) };
}

/** The router's own usage over the routings made since a moment (all when undefined), by router agent/model. */
export interface RouterUsageRow {
  agent: string;
  model: string;
  /** Routing calls made (tries). */
  calls: number;
  /** Routing decisions that asked the router. */
  routings: number;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  costUsd: number;
}

export async function routerUsageSince(pool: pg.Pool, since?: Date): Promise<RouterUsageRow[]> {
  const r = await pool.query(
    `select router_agent, router_model, sum(tries) as calls, count(*) as routings, sum(input_tokens) as i, sum(cache_read_tokens) as cr,
       sum(cache_write_tokens) as cw, sum(output_tokens) as o, sum(cost_usd) as c
     from task_routes where tries > 0 and ($1::timestamptz is null or at >= $1)
     group by router_agent, router_model`, [since ?? null]);
  return r.rows.map((x) => ({
    agent: x.router_agent, model: x.router_model, calls: Number(x.calls), routings: Number(x.routings), inputTokens: Number(x.i),
    cacheReadTokens: Number(x.cr), cacheWriteTokens: Number(x.cw), outputTokens: Number(x.o), costUsd: Number(x.c),
  }));
}
