// What issue 7 keeps in PostgreSQL: the five usage fields per attempt read back as task cost
// and metrics, cooldowns that survive a restart (a new Cooldowns over the same store), and
// parent/child links of delegated tasks.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cooldowns } from '../../coordinator/cooldowns.js';
import { migrate } from '../../coordinator/store/migrate.js';
import { Store } from '../../coordinator/store/store.js';
import { insertRoute, routerUsageSince, routingUsage, type RouteRecord } from '../../coordinator/store/routing.js';
import { metrics, taskCost } from '../../coordinator/usage.js';
import { startTestDatabase, type TestDatabase } from '../harness/postgres.js';

let db: TestDatabase;
let pool: pg.Pool;
let store: Store;
const PROJECT = { name: 'acme/usage', path: '', remote: 'https://example.test/acme/usage.git', defaultBranch: 'main' };

beforeAll(async () => {
  db = await startTestDatabase();
  pool = new pg.Pool({ connectionString: db.url });
  await migrate(pool);
  store = new Store(pool);
  await store.addProject(PROJECT);
});

afterAll(async () => {
  await pool?.end();
  await db?.stop();
});

async function attempt(taskId: number, n: number, node: string, agent: string, model: string, state: 'succeeded' | 'failed', usage: number[], cost: number, errorClass = '') {
  const t = (await store.getTask(taskId))!;
  const from = t.status;
  if (from !== 'routed') await store.transition(taskId, from, 'routed', { event: 'routed' });
  await store.transition(taskId, 'routed', 'in_progress', { event: 'dispatched', newAttempt: { token: `t-${taskId}-${n}`, node, agent, model } });
  const [inputTokens, cacheReadTokens, cacheWriteTokens, outputTokens] = usage;
  await store.transition(taskId, 'in_progress', state === 'succeeded' ? 'done' : 'routed', {
    event: 'x', attemptUpdate: { number: n, token: `t-${taskId}-${n}`, patch: { state, inputTokens, cacheReadTokens, cacheWriteTokens, outputTokens, costUsd: cost, costSource: cost ? 'agent' : '', errorClass, finishedAt: new Date() } },
  });
}

describe('usage', () => {
  it('task cost lists every attempt with the five fields and their total; metrics group them', async () => {
    const a = await store.createTask({ project: PROJECT.name, title: 'a', body: '', labels: [] });
    const b = await store.createTask({ project: PROJECT.name, title: 'b', body: '', labels: [] });
    await store.transition(a.id, 'new', 'routed', { event: 'routed' });
    await store.transition(b.id, 'new', 'routed', { event: 'routed' });
    await attempt(a.id, 1, 'n1', 'codex', 'gpt-5.1-codex', 'failed', [0, 0, 0, 0], 0, 'RateLimit');
    await attempt(a.id, 2, 'n2', 'claude', 'sonnet', 'succeeded', [100, 2000, 30, 40], 0.0123);
    await attempt(b.id, 1, 'n1', 'codex', 'gpt-5.1-codex', 'succeeded', [1234, 1800, 0, 83], 0.002);

    const cost = taskCost(a.id, await store.listAttempts(a.id));
    expect(cost.attempts.map((x) => [x.attempt, x.agent, x.model, x.node, x.state, x.costSource])).toEqual([
      [1, 'codex', 'gpt-5.1-codex', 'n1', 'failed', ''], [2, 'claude', 'sonnet', 'n2', 'succeeded', 'agent']]);
    expect(cost.attempts[1].usage).toEqual({ inputTokens: 100, cacheReadTokens: 2000, cacheWriteTokens: 30, outputTokens: 40, costUsd: 0.0123 });
    expect(cost.total).toEqual({ inputTokens: 100, cacheReadTokens: 2000, cacheWriteTokens: 30, outputTokens: 40, costUsd: 0.0123 });

    const m = metrics(3600, await store.taskStatusCounts(new Date(Date.now() - 3600_000)), await store.attemptsSince(new Date(Date.now() - 3600_000)));
    expect(m.tasksByStatus).toEqual({ done: 2 });
    expect([m.attempts, m.attemptsSucceeded, m.successRate]).toEqual([3, 2, 0.667]);
    expect(m.errorsByClass).toEqual({ RateLimit: 1 });
    expect(m.byNode.map((g) => [g.key, g.attempts, g.usage?.inputTokens])).toEqual([['n2', 1, 100], ['n1', 2, 1234]]);
    expect(m.byModel.map((g) => g.key)).toEqual(['claude/sonnet', 'codex/gpt-5.1-codex']);
    expect(m.total?.costUsd).toBe(0.0143);
    // A window that holds nothing.
    expect(metrics(1, await store.taskStatusCounts(new Date(Date.now() + 1000)), await store.attemptsSince(new Date(Date.now() + 1000)))).toMatchObject({ attempts: 0, successRate: 0, tasksByStatus: {} });
  });
});

describe('the LLM router\'s usage', () => {
  const route = (over: Partial<RouteRecord>): RouteRecord => ({
    mode: 'llm', source: 'llm', agent: 'codex', model: '', complexity: 'simple', reason: '', routerAgent: 'claude', routerModel: 'haiku', routerNode: 'n1',
    tries: 1, routerError: '', inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0, costUsd: 0, durationMs: 0, ...over,
  });

  it('is its own line in metrics, by router agent/model, over the window; task cost and both totals include it', async () => {
    const t = await store.createTask({ project: PROJECT.name, title: 'routed thrice', body: '', labels: [] });
    const u = await store.createTask({ project: PROJECT.name, title: 'routed once', body: '', labels: [] });
    await store.transaction(async (c) => {
      await insertRoute(c, t.id, route({ tries: 2, inputTokens: 1000, cacheReadTokens: 20_000, outputTokens: 50, costUsd: 0.004 }));
      await insertRoute(c, t.id, route({ source: 'explicit', tries: 0, routerAgent: '', routerModel: '' })); // pinned: the router was not asked
      await insertRoute(c, t.id, route({ routerAgent: 'codex', routerModel: 'gpt-5.1-codex-mini', inputTokens: 300, outputTokens: 7, costUsd: 0.0005 }));
      await insertRoute(c, u.id, route({ inputTokens: 900, cacheWriteTokens: 10, outputTokens: 40, costUsd: 0.003 }));
      // Routed before the window.
      await insertRoute(c, u.id, route({ inputTokens: 5, outputTokens: 5, costUsd: 1 }));
    });
    await pool.query(`update task_routes set at = now() - interval '2 hours' where task_id = $1 and cost_usd = 1`, [u.id]);

    const since = new Date(Date.now() - 3600_000);
    const m = metrics(3600, await store.taskStatusCounts(since), await store.attemptsSince(since), await routerUsageSince(pool, since));
    expect(m.byRouter.map((g) => [g.key, g.calls, g.routings, g.usage?.inputTokens, g.usage?.outputTokens, g.usage?.costUsd])).toEqual([
      ['claude/haiku', 3, 2, 1900, 90, 0.007],
      ['codex/gpt-5.1-codex-mini', 1, 1, 300, 7, 0.0005],
    ]);
    expect(m.routing).toEqual({ inputTokens: 2200, cacheReadTokens: 20_000, cacheWriteTokens: 10, outputTokens: 97, costUsd: 0.0075 });
    const attempts = (await store.attemptsSince(since)).reduce((n, a) => n + a.costUsd, 0);
    expect(m.total?.costUsd).toBeCloseTo(attempts + 0.0075, 9);
    // All time: the older routing too.
    expect((await routerUsageSince(pool)).reduce((n, r) => n + r.costUsd, 0)).toBeCloseTo(1.0075, 9);

    const cost = taskCost(t.id, await store.listAttempts(t.id), await routingUsage(pool, t.id));
    expect(cost.routing).toEqual({ inputTokens: 1300, cacheReadTokens: 20_000, cacheWriteTokens: 0, outputTokens: 57, costUsd: 0.0045 });
    expect(cost.total).toEqual(cost.routing);
  });
});

describe('cooldowns', () => {
  it('persist: a coordinator started later sees them, and strikes add up for the backoff', async () => {
    let now = Date.now();
    const first = new Cooldowns(store, () => now);
    await first.load();
    await first.put('codex/gpt-5.1-codex', 300, 'RateLimit', '429');
    expect(first.strikes('codex/gpt-5.1-codex')).toBe(1);
    await first.put('codex/gpt-5.1-codex', 600, 'RateLimit', '429 again');

    const later = new Cooldowns(store, () => now);
    await later.load();
    expect(later.strikes('codex/gpt-5.1-codex')).toBe(2);
    expect(later.remainingMs('codex', 'gpt-5.1-codex')).toBe(600_000);
    expect(later.cooling('codex', 'gpt-5.1-codex')).toBe(true);
    expect(later.cooling('codex', 'gpt-5.1-codex-mini')).toBe(false);
    expect(later.cooling('claude')).toBe(false);
    now += 601_000;
    expect(later.cooling('codex', 'gpt-5.1-codex')).toBe(false);
    expect(later.strikes('codex/gpt-5.1-codex')).toBe(2); // still remembered for the next backoff
    now += 7 * 3600_000;
    expect(later.strikes('codex/gpt-5.1-codex')).toBe(0); // long expired: a fresh start
  });
});

describe('delegated tasks', () => {
  it('keep their parent and are listed as its children', async () => {
    const parent = await store.createTask({ project: PROJECT.name, title: 'big', body: '', labels: [] });
    const kids = [await store.createTask({ project: PROJECT.name, title: 'k1', body: '', labels: [], parentId: parent.id }),
      await store.createTask({ project: PROJECT.name, title: 'k2', body: '', labels: [], parentId: parent.id })];
    expect(kids.map((k) => k.parentId)).toEqual([parent.id, parent.id]);
    expect((await store.childrenOf(parent.id)).map((k) => k.id)).toEqual(kids.map((k) => k.id));
    expect(parent.parentId).toBeNull();
  });
});
