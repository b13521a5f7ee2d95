// LLM routing end to end, as a user runs it: `orch serve` on the embedded default, the real
// Claude Code CLI as both the router and the executors, against a fake Anthropic API whose
// router answers are scripted per task. A routed task ends on the agent the router named and
// on the model model_map names for the complexity it returned; a malformed answer falls back
// and the task survives; routing runs in parallel and never holds up intake.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fixtures/fake-anthropic.js';
import { CLAUDE_BIN, claudeEnvYaml, makeRepo, OrchHome } from '../harness/orch.js';
import { StopWaiting, waitFor } from '../harness/wait.js';

interface RoutingJson {
  mode: string; source: string; agent: string; model: string; complexity: string; reason: string; router_agent: string; router_model: string;
  router_node: string; tries: number; router_error: string; input_tokens: number; output_tokens: number; cost_usd: number;
}
interface TaskJson {
  id: number; title: string; status: string; agent: string; model: string; complexity: string; reason: string;
  attempt_history: Array<{ agent: string; model: string; state: string }>; routing?: RoutingJson;
}

const ROUTER_MARK = 'You are the router of orch';
// How long the fake model takes to answer a router call: the window in which the three router calls
// (three Claude Code processes starting at once) must all arrive to count as overlapping. 3 s was
// tight on a loaded 2-core machine; serial routing would still spread them over 2 x 6 s at least.
const ROUTER_DELAY_MS = 6_000;

if (!existsSync(CLAUDE_BIN) && process.env.CI === 'true') throw new Error(`${CLAUDE_BIN} is missing: run npm ci`);

describe.skipIf(!existsSync(CLAUDE_BIN))('LLM routing with the real Claude Code CLI', () => {
  let h: OrchHome;
  let fake: FakeAnthropic;
  let serve: Awaited<ReturnType<OrchHome['serve']>>;
  /** Each router call the fake model answered: when it arrived and for which task title. */
  const routerCalls: Array<{ title: string; at: number }> = [];

  const claudeEnv = (dir: string) => claudeEnvYaml(fake.url, join(h.dir, dir), { IS_SANDBOX: '1' });

  beforeAll(async () => {
    h = new OrchHome('orch-llm-routing-');
    fake = await startFakeAnthropic({
      writeFile: { path: 'done.txt', content: 'done\n' },
      // The router's conversations (its system prompt says so) get a decision per task title.
      respond: (body) => {
        if (!JSON.stringify(body.system ?? '').includes(ROUTER_MARK)) return undefined;
        const user = JSON.stringify(body.messages);
        const title = /Task #\d+: ([^\\]+)/.exec(user)?.[1] ?? '';
        routerCalls.push({ title, at: Date.now() });
        const text = title.startsWith('Tiny') ? '{"executor": "claude-b", "complexity": "simple", "reason": "a one-line fix"}'
          : title.startsWith('Redesign') ? 'Here is my decision:\n```json\n{"executor": "claude", "complexity": "complex", "reason": "touches every module"}\n```'
          : 'I would give this one to Claude.';
        return { text, delayMs: ROUTER_DELAY_MS };
      },
    });
    h.writeConfig([
      'workflow:',
      '  max_attempts: 2',
      '  timeout_seconds: 300',
      // No router.mode: llm by default, since router.agent is set and the node has it.
      'router:',
      '  agent: claude',
      '  model: claude-haiku-4-5',
      '  fallback_executor: claude-b',
      '  timeout_seconds: 90',
      'model_map:',
      '  simple: { claude: claude-haiku-4-5, claude-b: claude-haiku-4-5 }',
      '  medium: { claude: claude-sonnet-5, claude-b: claude-sonnet-5 }',
      '  complex: { claude: fake-opus-x1, claude-b: claude-sonnet-5 }',
      'agents:',
      '  claude:',
      `    command: ${CLAUDE_BIN}`,
      '    permission_mode: bypassPermissions',
      ...claudeEnv('claude-config'),
      '  claude-b:',
      '    kind: claude',
      `    command: ${CLAUDE_BIN}`,
      '    permission_mode: bypassPermissions',
      ...claudeEnv('claude-b-config'),
      '  ghost:',
      '    kind: command',
      '    command: /nonexistent/ghost-agent',
      'tmux:',
      `  socket: ${h.tmuxSocket}`,
      'node:',
      '  name: local',
      '  slots: 3',
      '',
    ].join('\n'));
    serve = await h.serve();
    const repo = await makeRepo(h.dir);
    const add = await h.run(['project', 'add', repo.work]);
    expect(add.code, add.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await fake?.close();
  });

  const settled = (id: number) => waitFor(async () => {
    const t = await h.json<TaskJson>(['task', 'get', String(id)]);
    if (['needs_review', 'blocked'].includes(t.status)) throw new StopWaiting(`task ${id} ended ${t.status}: ${t.reason}\n${h.logOf('serve').slice(-4000)}`);
    return t.status === 'done' ? t : undefined;
  }, { timeoutMs: 240_000, intervalMs: 500, what: `task ${id} to reach done` });

  /** The models the task's own agent run asked the API for (its main loop: the turns that offer the Write tool). */
  const mainLoopModels = (title: string) => new Set(fake.requests
    .filter((r) => r.path === '/v1/messages' && Array.isArray(r.body?.tools) && r.body.tools.some((t: { name: string }) => t.name === 'Write'))
    .filter((r) => JSON.stringify(r.body.messages).includes(title) && !JSON.stringify(r.body.system ?? '').includes(ROUTER_MARK))
    .map((r) => r.body.model as string));

  it('routes by the router\'s answer, in parallel, to the agent and model model_map names; a malformed answer falls back', async () => {
    const add = async (title: string) => {
      const t = await h.json<TaskJson>(['task', 'add', title, '--body', `Please handle: ${title}`]);
      return { t, returnedAt: Date.now() };
    };
    // Three users at once.
    const [tiny, big, garbled] = await Promise.all([add('Tiny typo in the README'), add('Redesign the storage layer'), add('Garbled request')]);
    for (const a of [tiny, big, garbled]) expect(a.t.status).toBe('new');
    // While its routing call runs (the fake router takes 3 s to answer), the task says so.
    const routing = await h.json<TaskJson>(['task', 'get', String(garbled.t.id)]);
    expect(routing).toMatchObject({ status: 'new', reason: 'waiting for the router' });

    const [a, b, c] = [await settled(tiny.t.id), await settled(big.t.id), await settled(garbled.t.id)];

    // The router said claude-b / simple: model_map.simple.claude-b.
    expect(a).toMatchObject({ agent: 'claude-b', model: 'claude-haiku-4-5', complexity: 'simple' });
    expect(a.attempt_history[0]).toMatchObject({ agent: 'claude-b', model: 'claude-haiku-4-5', state: 'succeeded' });
    expect(a.routing).toMatchObject({ mode: 'llm', source: 'llm', reason: 'router: a one-line fix', router_agent: 'claude', router_model: 'claude-haiku-4-5', router_node: 'local', tries: 1, router_error: '' });
    expect(a.routing!.input_tokens).toBeGreaterThan(0);
    expect(a.routing!.output_tokens).toBeGreaterThan(0);
    expect(mainLoopModels('Tiny typo in the README')).toEqual(new Set(['claude-haiku-4-5']));

    // claude / complex (from a fenced block after prose): model_map.complex.claude.
    expect(b).toMatchObject({ agent: 'claude', model: 'fake-opus-x1', complexity: 'complex' });
    expect(b.routing).toMatchObject({ source: 'llm', reason: 'router: touches every module', tries: 1 });
    expect(mainLoopModels('Redesign the storage layer')).toEqual(new Set(['fake-opus-x1']));

    // Prose, not a decision: rejected with a reason, asked again (router.max_tries 2), then the fallback executor.
    expect(c).toMatchObject({ agent: 'claude-b', model: 'claude-sonnet-5', complexity: 'medium' });
    expect(c.routing).toMatchObject({ source: 'fallback', tries: 2 });
    expect(c.routing!.router_error).toMatch(/not a JSON object: "I would give this one to Claude\."/);
    expect(c.routing!.reason).toMatch(/router failed .*; fallback executor claude-b/);
    expect(h.logOf('serve')).toMatch(/router answer rejected/);

    // Intake was not held up by routing: each add had answered before its router call was answered.
    const firstCall = (title: string) => routerCalls.find((x) => x.title === title)!.at;
    for (const x of [tiny, big, garbled]) expect(x.returnedAt).toBeLessThan(firstCall(x.t.title) + ROUTER_DELAY_MS);
    // The router calls overlapped: each later one arrived before the first one was answered.
    const firsts = [tiny, big, garbled].map((x) => firstCall(x.t.title)).sort((x, y) => x - y);
    expect(firsts[2] - firsts[0]).toBeLessThan(ROUTER_DELAY_MS);

    // What a person reads in `orch task get`.
    const text = await h.run(['task', 'get', String(tiny.t.id)]);
    expect(text.stdout).toMatch(/routed: {5}llm \(llm mode\): router: a one-line fix/);
    expect(text.stdout).toMatch(/router: {5}claude\/claude-haiku-4-5 on local, 1 call, \d+ in \/ \d+ out tokens, \$\d+\.\d{4}, \d+\.\d s/);
    const text2 = await h.run(['task', 'get', String(garbled.t.id)]);
    expect(text2.stdout).toMatch(/router err: the router's answer is not a JSON object/);

    // `orch task cost` counts the router's own usage with the task's.
    type U = { input_tokens: number; output_tokens: number; cost_usd: number };
    const cost = await h.json<{ attempts: U[]; routing: U; total: U }>(['task', 'cost', String(garbled.t.id)]);
    expect(cost.routing).toMatchObject({ input_tokens: c.routing!.input_tokens, output_tokens: c.routing!.output_tokens });
    expect(cost.total.output_tokens).toBe(cost.routing.output_tokens + cost.attempts.reduce((n, x) => n + x.output_tokens, 0));
    expect((await h.run(['task', 'cost', String(garbled.t.id)])).stdout).toMatch(/^routing\s/m);
  }, 400_000);

  it('labels and --agent skip the router; orch task route asks it again', async () => {
    const calls = () => routerCalls.filter((x) => x.title === 'Pinned work').length;
    // --agent pins the agent: no router call; the label names the tier.
    const pinned = await h.json<TaskJson>(['task', 'add', 'Pinned work', '--agent', 'ghost', '--labels', 'complexity:complex']);
    const waiting = await waitFor(async () => {
      const t = await h.json<TaskJson>(['task', 'get', String(pinned.id)]);
      return t.status === 'routed' ? t : undefined;
    }, { timeoutMs: 30_000, what: 'the pinned task to be routed' });
    expect(waiting).toMatchObject({ agent: 'ghost', complexity: 'complex' });
    expect(waiting.routing).toMatchObject({ source: 'explicit', tries: 0 });
    expect(calls()).toBe(0);
    // No node has ghost: it waits. Re-routing clears the pin and lets the router decide; the CLI waits for it.
    const before = Date.now();
    const rerouted = await h.json<TaskJson>(['task', 'route', String(pinned.id)]);
    expect(Date.now() - before).toBeGreaterThanOrEqual(ROUTER_DELAY_MS - 500);
    expect(rerouted.status).not.toBe('new');
    // The title starts with neither Tiny nor Redesign: prose again, so the fallback executor; the label keeps the tier.
    expect(rerouted).toMatchObject({ agent: 'claude-b', complexity: 'complex', model: 'claude-sonnet-5' });
    expect(rerouted.routing).toMatchObject({ source: 'fallback', tries: 2 });
    expect(calls()).toBe(2);
    await settled(pinned.id);

    const done = await h.run(['task', 'route', String(pinned.id)]);
    expect(done.code).not.toBe(0);
    expect(done.stderr).toMatch(/task is done; retry it first/);
  }, 300_000);
});
