// The LLM router's own tokens and cost, as a user reads them: `orch serve` on the embedded
// default routes with the real Claude Code CLI (against a fake Anthropic API) and runs the
// tasks on a cheap command agent. `orch task cost` shows the routing apart from the agent
// runs, `orch metrics` has the router as its own lines, both totals include it, and the
// OpenTelemetry counters carry it with orch.purpose=route.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fixtures/fake-anthropic.js';
import { startFakeOtlp, type FakeOtlp } from '../fixtures/fake-otlp.js';
import { CLAUDE_BIN, claudeAgentYaml, makeRepo, OrchHome } from '../harness/orch.js';
import { StopWaiting, waitFor } from '../harness/wait.js';

interface UsageJson { input_tokens: number; cache_read_tokens: number; cache_write_tokens: number; output_tokens: number; cost_usd: number }
interface TaskJson { id: number; status: string; reason: string; agent: string; routing?: UsageJson & { router_agent: string; router_model: string; tries: number; source: string } }
interface CostJson { attempts: Array<UsageJson & { agent: string }>; routing?: UsageJson; total: UsageJson }
interface MetricsJson {
  total: UsageJson; routing: UsageJson; by_agent: Array<UsageJson & { key: string; attempts: number }>;
  by_router: Array<UsageJson & { key: string; agent: string; model: string; calls: number; routings: number }>;
}

const ROUTER_MARK = 'You are the router of orch';
const FIELDS = ['input_tokens', 'cache_read_tokens', 'cache_write_tokens', 'output_tokens'] as const;

if (!existsSync(CLAUDE_BIN) && process.env.CI === 'true') throw new Error(`${CLAUDE_BIN} is missing: run npm ci`);

describe.skipIf(!existsSync(CLAUDE_BIN))('the LLM router\'s own usage in orch task cost, orch metrics and OpenTelemetry', () => {
  let h: OrchHome;
  let fake: FakeAnthropic;
  let otlp: FakeOtlp;
  let serve: Awaited<ReturnType<OrchHome['serve']>>;

  beforeAll(async () => {
    h = new OrchHome('orch-router-usage-');
    otlp = await startFakeOtlp();
    fake = await startFakeAnthropic({
      respond: (body) => JSON.stringify(body.system ?? '').includes(ROUTER_MARK)
        ? { text: '{"executor": "noop", "complexity": "simple", "reason": "a small job"}' } : undefined,
    });
    const agent = join(h.dir, 'noop-agent.sh');
    writeFileSync(agent, '#!/bin/bash\ncat > /dev/null\necho \'{"status":"done","summary":"nothing to do"}\'\n', { mode: 0o755 });
    h.writeConfig([
      'router:',
      '  agent: claude',
      '  model: claude-haiku-4-5',
      '  fallback_executor: noop',
      'agents:',
      ...claudeAgentYaml(fake.url, join(h.dir, 'claude-config'), { IS_SANDBOX: '1' }),
      '  noop:',
      '    kind: command',
      `    command: ${agent}`,
      'tmux:',
      `  socket: ${h.tmuxSocket}`,
      'node:',
      '  name: local',
      '',
    ].join('\n'));
    serve = await h.serve([], { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_METRIC_EXPORT_INTERVAL: '300' });
    const repo = await makeRepo(h.dir);
    const add = await h.run(['project', 'add', `file://${repo.origin}`]);
    expect(add.code, add.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await fake?.close();
    await otlp?.close();
  });

  const done = (id: number) => waitFor(async () => {
    const t = await h.json<TaskJson>(['task', 'get', String(id)]);
    if (['needs_review', 'blocked'].includes(t.status)) throw new StopWaiting(`task ${id} ended ${t.status}: ${t.reason}\n${h.logOf('serve').slice(-3000)}`);
    return t.status === 'done' ? t : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500, what: `task ${id} to be done` });

  it('counts the router apart from the agent runs, and in every total', async () => {
    const added = await Promise.all(['Rename a variable', 'Fix a comment'].map((title) => h.json<TaskJson>(['task', 'add', title])));
    const tasks = await Promise.all(added.map((t) => done(t.id)));
    for (const t of tasks) {
      expect(t.agent).toBe('noop');
      expect(t.routing).toMatchObject({ source: 'llm', router_agent: 'claude', router_model: 'claude-haiku-4-5', tries: 1 });
      expect(t.routing!.input_tokens).toBeGreaterThan(0);
      expect(t.routing!.output_tokens).toBeGreaterThan(0);
      expect(t.routing!.cost_usd).toBeGreaterThan(0);
    }
    const sum = (f: (u: UsageJson) => number) => tasks.reduce((n, t) => n + f(t.routing!), 0);

    // `orch task cost`: the routing is its own row, apart from the attempts, and in the total.
    for (const t of tasks) {
      const cost = await h.json<CostJson>(['task', 'cost', String(t.id)]);
      expect(cost.attempts.map((a) => a.agent)).toEqual(['noop']);
      for (const f of FIELDS) expect(cost.routing![f]).toBe(t.routing![f]);
      expect(cost.routing!.cost_usd).toBeCloseTo(t.routing!.cost_usd, 6); // rounded to the micro-dollar, as every sum
      for (const f of FIELDS) expect(cost.total[f]).toBe(cost.routing![f] + cost.attempts.reduce((n, a) => n + a[f], 0));
      expect(cost.total.cost_usd).toBeCloseTo(cost.routing!.cost_usd + cost.attempts.reduce((n, a) => n + a.cost_usd, 0), 6);
      const text = await h.run(['task', 'cost', String(t.id)]);
      expect(text.stdout).toMatch(new RegExp(`^routing\\s+${t.routing!.input_tokens}\\s`, 'm'));
    }

    // `orch metrics --json`: one router line (calls, routings, tokens, cost); the agents' lines do not hold it; the total does.
    const m = await h.json<MetricsJson>(['metrics', '--since', '1h']);
    expect(m.by_router).toHaveLength(1);
    expect(m.by_router[0]).toMatchObject({ key: 'claude/claude-haiku-4-5', agent: 'claude', model: 'claude-haiku-4-5', calls: 2, routings: 2 });
    for (const f of FIELDS) {
      expect(m.by_router[0][f]).toBe(sum((u) => u[f]));
      expect(m.routing[f]).toBe(sum((u) => u[f]));
      expect(m.total[f]).toBe(m.routing[f] + m.by_agent.reduce((n, g) => n + g[f], 0));
    }
    expect(m.routing.cost_usd).toBeCloseTo(sum((u) => u.cost_usd), 6);
    expect(m.total.cost_usd).toBeCloseTo(m.routing.cost_usd + m.by_agent.reduce((n, g) => n + g.cost_usd, 0), 6);
    expect(m.by_agent.map((g) => g.key)).toEqual(['noop']);

    // What a person reads.
    const text = await h.run(['metrics', '--since', '1h']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^ROUTER\s+CALLS\s+ROUTINGS\s+INPUT\s+CACHE READ\s+CACHE WRITE\s+OUTPUT\s+COST$/m);
    expect(text.stdout).toMatch(new RegExp(`^claude/claude-haiku-4-5\\s+2\\s+2\\s+${sum((u) => u.input_tokens)}\\s`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^routing: ${sum((u) => u.input_tokens)} / `, 'm'));

    // OpenTelemetry: orch.tokens and orch.cost, with orch.purpose=route, by router agent and model.
    const total = (name: string, attrs: Record<string, unknown>) => otlp.latest(name, attrs).reduce((n, p) => n + p.value, 0);
    const route = { 'orch.purpose': 'route', 'gen_ai.agent.name': 'claude', 'gen_ai.request.model': 'claude-haiku-4-5', 'orch.node': 'local' };
    await waitFor(() => total('orch.tokens', { ...route, 'gen_ai.token.type': 'output' }) === sum((u) => u.output_tokens),
      { timeoutMs: 15_000, what: 'orch.tokens to count the router\'s output tokens' });
    expect(total('orch.tokens', { ...route, 'gen_ai.token.type': 'input' })).toBe(sum((u) => u.input_tokens));
    expect(total('orch.cost', route)).toBeCloseTo(sum((u) => u.cost_usd), 9);
    // The agent runs (a command agent: no tokens) are not mixed in with the router.
    expect(total('orch.tokens', { 'orch.purpose': 'task' })).toBe(0);
  }, 300_000);
});
