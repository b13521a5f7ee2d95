// Contract of every agent kind, as a user runs it: `orch serve` (embedded PostgreSQL, its own
// node, a private tmux socket, real git worktrees) drives the real CLIs from npm (Claude Code,
// Codex, OpenCode; Kimi and MiniMax as Claude Code profiles) against fake model servers on
// loopback. Each task's prompt names its scenario (FAKE-SCENARIO: …), so one server plays
// success, 429, 401, context overflow and a hang for many tasks at once. For each: the class
// orch gives the failure, where the task ends under the recovery rules, and the five usage
// fields against what the fake really sent. Successful runs also refresh the recorded output
// under test/fixtures/agent-output when ORCH_RECORD_FIXTURES=1.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fixtures/fake-anthropic.js';
import { startFakeOpenAI, type FakeOpenAI, type SentUsage } from '../fixtures/fake-openai.js';
import { CLAUDE_BIN, git, makeRepo, OrchHome, ROOT } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';
import { costOf } from '../../runtime/pricing.js';
import { DEFAULT_PRICING } from '../../runtime/config/schema.js';

const CODEX_BIN = join(ROOT, 'node_modules', '.bin', 'codex');
const OPENCODE_BIN = join(ROOT, 'node_modules', '.bin', 'opencode');
const KIMI_KEY = 'sk-kimi-test-5f0e1d2c3b4a';
const MINIMAX_KEY = 'sk-minimax-test-9a8b7c6d';
const SILENCE_S = 40;

interface AttemptJson { number: number; state: string; error_class: string; error_message: string; agent: string; model: string }
interface TaskJson { id: number; status: string; reason: string; agent: string; model: string; branch: string; attempts: number; attempt_history: AttemptJson[] }
interface CostJson {
  task: number;
  attempts: Array<{ attempt: number; agent: string; model: string; node: string; input_tokens: number; cache_read_tokens: number; cache_write_tokens: number; output_tokens: number; cost_usd: number; cost_source: string }>;
  total: { input_tokens: number; cache_read_tokens: number; cache_write_tokens: number; output_tokens: number; cost_usd: number };
}

const missing = [CLAUDE_BIN, CODEX_BIN, OPENCODE_BIN].filter((b) => !existsSync(b));

describe.skipIf(missing.length > 0 && !process.env.CI)('agent CLIs through orch (real binaries, fake model servers)', () => {
  let h: OrchHome;
  let openai: FakeOpenAI;
  let anthropic: FakeAnthropic;
  let repo: { work: string; origin: string };
  let serve: Awaited<ReturnType<OrchHome['serve']>>;
  const ids: Record<string, number> = {};

  beforeAll(async () => {
    if (missing.length) throw new Error(`agent CLIs missing (npm ci installs them): ${missing.join(', ')}`);
    h = new OrchHome('orch-agents-');
    openai = await startFakeOpenAI({ writeFile: { path: 'src/hello.txt', content: 'hello from the fake\n' } });
    anthropic = await startFakeAnthropic({ writeFile: { path: 'src/hello.txt', content: 'hello from the fake\n' } });
    repo = await makeRepo(h.dir);

    // Codex: the user's own CODEX_HOME with a custom provider, no retries of its own.
    const codexHome = join(h.dir, 'codex-home');
    mkdirSync(codexHome, { recursive: true });
    writeFileSync(join(codexHome, 'config.toml'), [
      'model_provider = "fake"',
      '[model_providers.fake]',
      'name = "fake"',
      `base_url = "${openai.url}/v1"`,
      'env_key = "FAKE_OPENAI_KEY"',
      'wire_api = "responses"',
      'stream_max_retries = 0',
      'request_max_retries = 0',
      '',
    ].join('\n'));
    // OpenCode: the user's OPENCODE_CONFIG with an openai-compatible provider and its prices.
    const ocConfig = join(h.dir, 'opencode.json');
    writeFileSync(ocConfig, JSON.stringify({
      $schema: 'https://opencode.ai/config.json', autoupdate: false, share: 'disabled',
      provider: { fake: { npm: '@ai-sdk/openai-compatible', name: 'Fake', options: { baseURL: `${openai.url}/v1`, apiKey: '{env:FAKE_OPENAI_KEY}' },
        models: { 'fake-model': { name: 'Fake', limit: { context: 128000, output: 8000 }, cost: { input: 1, output: 2, cache_read: 0.5 } } } } },
    }));
    const ocHome = join(h.dir, 'opencode-home');
    const claudeEnv = (dir: string) => [
      `      CLAUDE_CONFIG_DIR: ${join(h.dir, dir)}`,
      '      CLAUDE_CODE_MAX_RETRIES: "0"',
      '      DISABLE_TELEMETRY: "1"',
    ];
    h.writeConfig([
      'workflow:',
      '  max_attempts: 2',
      '  timeout_seconds: 120',
      `  silence_seconds: ${SILENCE_S}`,
      '  retry_delay_seconds: 0',
      '  cooldown_seconds: 1',
      'model_map:',
      '  medium: { claude: sonnet, codex: gpt-5.1-codex, opencode: fake/fake-model }',
      'agents:',
      '  claude:',
      `    command: ${CLAUDE_BIN}`,
      '    env:',
      `      ANTHROPIC_BASE_URL: ${anthropic.url}`,
      '      ANTHROPIC_API_KEY: sk-ant-test-0123456789abcdef',
      ...claudeEnv('claude-config'),
      '  kimi:',
      `    command: ${CLAUDE_BIN}`,
      `    base_url: ${anthropic.url}`,
      '    env:',
      ...claudeEnv('kimi-config'),
      '  minimax:',
      `    command: ${CLAUDE_BIN}`,
      `    base_url: ${anthropic.url}`,
      '    env:',
      ...claudeEnv('minimax-config'),
      '  codex:',
      `    command: ${CODEX_BIN}`,
      '    env:',
      `      CODEX_HOME: ${codexHome}`,
      '      FAKE_OPENAI_KEY: sk-openai-test-1234',
      '  opencode:',
      `    command: ${OPENCODE_BIN}`,
      '    env:',
      `      OPENCODE_CONFIG: ${ocConfig}`,
      '      FAKE_OPENAI_KEY: sk-openai-test-1234',
      `      XDG_DATA_HOME: ${join(ocHome, 'data')}`,
      `      XDG_CONFIG_HOME: ${join(ocHome, 'config')}`,
      `      XDG_CACHE_HOME: ${join(ocHome, 'cache')}`,
      `      XDG_STATE_HOME: ${join(ocHome, 'state')}`,
      'tmux:',
      `  socket: ${h.tmuxSocket}`,
      'node:',
      '  name: local',
      '  slots: 6',
      '',
    ].join('\n'));
    // Provider keys come from orch's environment (the profiles map them to ANTHROPIC_AUTH_TOKEN).
    serve = await h.serve([], { KIMI_API_KEY: KIMI_KEY, MINIMAX_API_KEY: MINIMAX_KEY });
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0);
    const scenarios = [
      ...['claude', 'codex', 'opencode'].flatMap((agent) => ['ok', 'rate_limit', 'auth', 'context_overflow', 'hang'].map((s) => [agent, s])),
      ['kimi', 'ok'], ['minimax', 'ok'],
    ];
    for (const [agent, s] of scenarios) {
      const t = await h.json<TaskJson>(['task', 'add', `${agent} ${s}`, '--agent', agent, '--project', 'local/demo',
        '--body', `Create src/hello.txt.\nFAKE-SCENARIO: ${s}-${agent}`]);
      ids[`${s}-${agent}`] = t.id;
    }
  }, 180_000);

  afterAll(async () => {
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await openai?.close();
    await anthropic?.close();
  });

  /** The task once it has settled (done, needs_review or blocked). */
  async function settled(name: string): Promise<TaskJson> {
    return waitFor(async () => {
      const t = await h.json<TaskJson>(['task', 'get', String(ids[name])]);
      return ['done', 'needs_review', 'blocked'].includes(t.status) ? t : undefined;
    }, { timeoutMs: 150_000, intervalMs: 500, what: `task ${name} to settle` });
  }

  const cost = (name: string) => h.json<CostJson>(['task', 'cost', String(ids[name])]);
  const sum = (us: SentUsage[]) => ({
    input_tokens: us.reduce((s, u) => s + u.input - u.cached, 0), cache_read_tokens: us.reduce((s, u) => s + u.cached, 0),
    cache_write_tokens: 0, output_tokens: us.reduce((s, u) => s + u.output, 0),
  });
  const attemptDir = (id: number, n: number) => join(h.home, 'state', 'local', 'demo', 'tasks', String(id), 'attempts', String(n));

  /** Keep the CLI's real output and what the fake sent for it (normalised usage), for the parser unit tests. */
  function record(agent: string, scenario: string, id: number, n = 1): void {
    if (!process.env.ORCH_RECORD_FIXTURES) return;
    const base = join(ROOT, 'test', 'fixtures', 'agent-output', agent, scenario);
    copyFileSync(join(attemptDir(id, n), 'output.log'), `${base}.jsonl`);
    const tag = `${scenario === 'success' ? 'ok' : scenario}-${agent}`;
    const sent = agent === 'claude'
      ? (anthropic.usageByScenario[tag] ?? []).map((u) => ({ input_tokens: u.input_tokens, cache_read_tokens: u.cache_read_input_tokens, cache_write_tokens: u.cache_creation_input_tokens, output_tokens: u.output_tokens }))
      : (openai.usageByScenario[tag] ?? []).map((u) => ({ input_tokens: u.input - u.cached, cache_read_tokens: u.cached, cache_write_tokens: 0, output_tokens: u.output }));
    writeFileSync(`${base}.sent.json`, JSON.stringify(sent, null, 1) + '\n');
  }

  describe.each(['codex', 'opencode'])('%s', (agent) => {
    it('success: the file lands on the pushed branch, the usage equals what the fake sent', async () => {
      const t = await settled(`ok-${agent}`);
      expect(t, t.reason).toMatchObject({ status: 'done', attempts: 1 });
      expect(await git(['--git-dir', repo.origin, 'show', `${t.branch}:src/hello.txt`])).toBe('hello from the fake\n');
      const sent = openai.usageByScenario[`ok-${agent}`];
      expect(sent.length).toBe(2); // the tool call, then the answer
      const c = await cost(`ok-${agent}`);
      expect(c.attempts[0]).toMatchObject({ attempt: 1, agent, node: 'local', ...sum(sent) });
      if (agent === 'codex') {
        // Codex reports no cost: orch prices it from the shipped table.
        expect(c.attempts[0].cost_source).toBe('pricing');
        expect(c.attempts[0].cost_usd).toBeCloseTo(costOf({ inputTokens: sum(sent).input_tokens, cacheReadTokens: sum(sent).cache_read_tokens, cacheWriteTokens: 0, outputTokens: sum(sent).output_tokens }, DEFAULT_PRICING['gpt-5.1-codex']), 9);
      } else {
        // OpenCode's own cost from the user's model prices (USD per million tokens).
        expect(c.attempts[0].cost_source).toBe('agent');
        const s = sum(sent);
        expect(c.attempts[0].cost_usd).toBeCloseTo((s.input_tokens * 1 + s.output_tokens * 2 + s.cache_read_tokens * 0.5) / 1e6, 9);
      }
      expect(c.total).toMatchObject({ ...sum(sent), cost_usd: c.attempts[0].cost_usd });
      record(agent, 'success', t.id);
    }, 160_000);

    it('429: RateLimit, retried after the cooldown, then needs_review when attempts run out', async () => {
      const t = await settled(`rate_limit-${agent}`);
      expect(t.attempt_history.map((a) => [a.state, a.error_class]), JSON.stringify(t.attempt_history.map((a) => a.error_message))).toEqual([['failed', 'RateLimit'], ['failed', 'RateLimit']]);
      expect(t.status).toBe('needs_review');
      expect(t.reason).toMatch(/^RateLimit after 2 attempts/);
      expect(await cost(`rate_limit-${agent}`)).toMatchObject({ total: { input_tokens: 0, output_tokens: 0, cost_usd: 0 } });
      record(agent, 'rate_limit', t.id);
    }, 160_000);

    it('401: Auth, no retry, needs_review saying to fix the credentials', async () => {
      const t = await settled(`auth-${agent}`);
      expect(t.attempt_history.map((a) => a.error_class)).toEqual(['Auth']);
      expect(t.status).toBe('needs_review');
      expect(t.reason).toMatch(/^Auth: .*fix the agent's credentials/);
      record(agent, 'auth', t.id);
    }, 160_000);

    it('context overflow: ContextOverflow, needs_review (no fallback agent configured)', async () => {
      const t = await settled(`context_overflow-${agent}`);
      expect(t.attempt_history.map((a) => a.error_class)).toEqual(['ContextOverflow']);
      expect(t.status).toBe('needs_review');
      record(agent, 'context_overflow', t.id);
    }, 160_000);

    it('a hung model: the silent agent is stopped, Timeout, retried once, then needs_review', async () => {
      const t = await settled(`hang-${agent}`);
      expect(t.attempt_history.map((a) => [a.state, a.error_class]), JSON.stringify(t.attempt_history.map((a) => a.error_message))).toEqual([['failed', 'Timeout'], ['failed', 'Timeout']]);
      expect(t.attempt_history[0].error_message).toMatch(/^the agent printed nothing for \d+ s and was stopped$/);
      expect(t.status).toBe('needs_review');
    }, 160_000);
  });

  describe('claude', () => {
    it('success: modelUsage tokens equal what the fake sent; the cost is its own', async () => {
      const t = await settled('ok-claude');
      expect(t, t.reason).toMatchObject({ status: 'done', attempts: 1 });
      expect(await git(['--git-dir', repo.origin, 'show', `${t.branch}:src/hello.txt`])).toBe('hello from the fake\n');
      const sent = anthropic.usageByScenario['ok-claude'];
      const c = await cost('ok-claude');
      expect(c.attempts[0]).toMatchObject({
        input_tokens: sent.reduce((s, u) => s + u.input_tokens, 0), cache_read_tokens: sent.reduce((s, u) => s + u.cache_read_input_tokens, 0),
        cache_write_tokens: sent.reduce((s, u) => s + u.cache_creation_input_tokens, 0), output_tokens: sent.reduce((s, u) => s + u.output_tokens, 0),
        cost_source: 'agent',
      });
      expect(c.attempts[0].cost_usd).toBeGreaterThan(0);
      record('claude', 'success', t.id);
    }, 160_000);

    it.each([
      ['rate_limit', [['failed', 'RateLimit'], ['failed', 'RateLimit']]],
      ['auth', [['failed', 'Auth']]],
      ['context_overflow', [['failed', 'ContextOverflow']]],
      ['hang', [['failed', 'Timeout'], ['failed', 'Timeout']]],
    ])('%s: classified and settled by the recovery rules', async (scenario, history) => {
      const t = await settled(`${scenario}-claude`);
      expect(t.attempt_history.map((a) => [a.state, a.error_class])).toEqual(history);
      expect(t.status).toBe('needs_review');
      if (scenario !== 'hang') record('claude', scenario, t.id);
    }, 160_000);
  });

  describe.each([['kimi', KIMI_KEY, 'kimi-k2-0905-preview'], ['minimax', MINIMAX_KEY, 'MiniMax-M2']])('%s profile', (agent, key, model) => {
    it('runs Claude Code against the endpoint with the provider key and model', async () => {
      const t = await settled(`ok-${agent}`);
      expect(t, t.reason).toMatchObject({ status: 'done', attempts: 1 });
      const reqs = anthropic.requests.filter((r) => r.path === '/v1/messages' && JSON.stringify(r.body).includes(`FAKE-SCENARIO: ok-${agent}`));
      expect(reqs.length).toBeGreaterThanOrEqual(2);
      for (const r of reqs) {
        expect(r.headers.authorization).toBe(`Bearer ${key}`);
        expect(r.headers['x-api-key']).toBeUndefined();
        expect(r.body.model).toBe(model);
      }
      const sent = anthropic.usageByScenario[`ok-${agent}`];
      expect((await cost(`ok-${agent}`)).attempts[0]).toMatchObject({ model, input_tokens: sent.reduce((s, u) => s + u.input_tokens, 0), output_tokens: sent.reduce((s, u) => s + u.output_tokens, 0) });
      // The key reached the agent through the FIFO, never a file of the attempt.
      for (const f of ['runner.sh', 'output.log', 'stderr.txt', 'result.json', 'output.json']) {
        const p = join(attemptDir(t.id, 1), f);
        if (existsSync(p)) expect(readFileSync(p, 'utf8')).not.toContain(key);
      }
    }, 160_000);
  });

  it('orch agents shows per node each agent found, its path, version and configured models', async () => {
    const agents = await h.json<Array<{ name: string; node: string; installed: boolean; path: string; version: string; models: string[] }>>(['agents']);
    const by = Object.fromEntries(agents.map((a) => [a.name, a]));
    expect(by.codex).toMatchObject({ node: 'local', installed: true, path: CODEX_BIN, version: '0.169.0' });
    expect(by.codex.models).toContain('gpt-5.1-codex');
    expect(by.opencode).toMatchObject({ installed: true, path: OPENCODE_BIN, version: '1.18.33', models: expect.arrayContaining(['fake/fake-model']) });
    expect(by.kimi).toMatchObject({ installed: true, path: CLAUDE_BIN, models: expect.arrayContaining(['kimi-k2-0905-preview']) });
    expect(by.minimax.models).toEqual(['MiniMax-M2']);
    expect(by.claude.version).toMatch(/^\d+\.\d+\.\d+/);
    const table = await h.run(['agents']);
    expect(table.stdout.split('\n')[0].split(/\s+/)).toEqual(['NODE', 'AGENT', 'KIND', 'FOUND', 'PATH', 'VERSION', 'MODELS']);
  });

  it('orch metrics sums the same attempts by agent, model and node', async () => {
    for (const name of Object.keys(ids)) await settled(name);
    const m = await h.json<any>(['metrics', '--since', '1h']);
    const costs = await Promise.all(Object.keys(ids).map((n) => cost(n)));
    const total = costs.reduce((s, c) => s + c.total.input_tokens, 0);
    expect(m.total.input_tokens).toBe(total);
    expect(m.tasks_by_status).toEqual({ done: 5, needs_review: 12 });
    expect(m.errors_by_class).toMatchObject({ RateLimit: 6, Auth: 3, ContextOverflow: 3, Timeout: 6 });
    expect(m.by_node).toEqual([expect.objectContaining({ key: 'local', attempts: 5 + 6 + 3 + 3 + 6 })]);
    expect(m.by_agent.map((g: any) => g.key).sort()).toEqual(['claude', 'codex', 'kimi', 'minimax', 'opencode']);
  }, 200_000);
});
