// The routing service around the pure router: when the LLM router is asked, how often, what
// its failures lead to, and that plans run side by side. The asker here is a fake at the edge
// (the one-shot agent call); the real one is covered end to end in test/e2e/llm-routing.test.ts.
import { describe, expect, it } from 'vitest';
import { AskError, type AskRequest, type AskResult } from '../../coordinator/ask.js';
import { routeBasis, Routing, type RoutingDeps } from '../../coordinator/routing.js';
import type { TaskRow } from '../../coordinator/store/rows.js';
import { waitFor } from '../harness/wait.js';
import { defaultConfig, mergeConfig, type OrchConfig } from '../../runtime/config/index.js';

const task = (id: number, over: Partial<TaskRow> = {}): TaskRow => ({
  id, project: 'o/r', title: `Task ${id}`, body: 'body', status: 'new', agent: '', model: '', complexity: '', labels: [], branch: '',
  summary: '', reason: '', attempts: 0, spent: 0, head: '', trace: {}, filesChanged: [], memory: [], parentId: null, issueNumber: null,
  prNumber: null, createdAt: new Date(), updatedAt: new Date(), ...over,
});

const result = (text: string): AskResult => ({
  text, agent: 'claude', model: 'haiku', node: 'n1', durationMs: 100, inputTokens: 10, outputTokens: 5, cacheReadTokens: 2, cacheWriteTokens: 1, costUsd: 0.001,
});

/** A fake asker answering from a script; `hold` keeps every call open until released. */
function fakeAsker(answers: Array<string | AskError>) {
  const calls: AskRequest[] = [];
  let open = 0;
  let peak = 0;
  let release: () => void = () => {};
  const gate = { held: false, wait: Promise.resolve() };
  return {
    calls, get peak() { return peak; },
    hold() { gate.held = true; gate.wait = new Promise<void>((r) => { release = r; }); },
    release() { gate.held = false; release(); },
    asker: {
      async ask(req: AskRequest): Promise<AskResult> {
        calls.push(req);
        open++;
        peak = Math.max(peak, open);
        try {
          if (gate.held) await gate.wait;
          const a = answers.length > 1 ? answers.shift()! : answers[0];
          if (a instanceof AskError) throw a;
          return result(a);
        } finally {
          open--;
        }
      },
    },
  };
}

function routing(asker: RoutingDeps['asker'], router: Partial<OrchConfig['router']> = { agent: 'claude' }, live = ['claude', 'codex'], now?: () => number) {
  const config = mergeConfig(defaultConfig(), { router, model_map: { simple: { claude: 'haiku', codex: 'mini' }, medium: { claude: 'sonnet', codex: 'gpt' } } });
  let cursor = 0;
  return new Routing({
    asker, config: () => config, liveAgents: () => live, advanceCursor: () => { cursor++; }, now,
    state: () => ({ agents: live, modelMap: config.model_map, cursor, fallbackAgent: config.router.fallback_executor, pick: () => 0 }),
  });
}

const GOOD = '{"executor":"codex","complexity":"simple","reason":"small"}';

describe('the routing service', () => {
  it('is in llm mode by default only while router.agent is set and a live node has it', () => {
    const { asker } = fakeAsker([GOOD]);
    expect(routing(asker, { agent: 'claude' }).mode('o/r')).toBe('llm');
    expect(routing(asker, { agent: 'claude' }, ['codex']).mode('o/r')).toBe('round_robin');
    expect(routing(asker, {}).mode('o/r')).toBe('round_robin');
    expect(routing(asker, { mode: 'round_robin', agent: 'claude' }).mode('o/r')).toBe('round_robin');
    expect(routing(asker, { mode: 'llm' }, ['codex']).mode('o/r')).toBe('llm');
  });

  it('right after the coordinator starts, waits for the node with the router agent to register instead of routing round-robin', async () => {
    const f = fakeAsker([GOOD]);
    const config = mergeConfig(defaultConfig(), { router: { agent: 'claude' }, model_map: { simple: { codex: 'mini' } } });
    const live: string[] = [];
    const r = new Routing({
      asker: f.asker, config: () => config, liveAgents: () => live, advanceCursor: () => {}, fleetSettlesAt: () => Date.now() + 60_000,
      state: () => ({ agents: [...live, 'codex'], modelMap: config.model_map, cursor: 0, pick: () => 0 }),
    });
    const planned = r.plan(task(30));
    let done = false;
    void planned.then(() => { done = true; });
    await waitFor(() => r.pending === 1, { what: 'the plan to start' });
    expect(done).toBe(false); // waiting: no node has claude yet
    live.push('claude'); // its node registers
    const plan = await planned;
    expect(f.calls).toHaveLength(1);
    expect(plan.record.mode).toBe('llm');
    expect(plan.decision).toMatchObject({ agent: 'codex', source: 'llm' });
    // Once the fleet has settled, a missing router agent means round-robin at once.
    const later = new Routing({
      asker: f.asker, config: () => config, liveAgents: () => [], advanceCursor: () => {}, fleetSettlesAt: () => Date.now() - 1,
      state: () => ({ agents: ['codex'], modelMap: config.model_map, cursor: 0, pick: () => 0 }),
    });
    expect((await later.plan(task(31))).decision.source).toBe('round_robin');
    expect(f.calls).toHaveLength(1);
  });

  it('asks the router agent with its model, the task and the fleet, and records its usage', async () => {
    const f = fakeAsker([GOOD]);
    const plan = await routing(f.asker, { agent: 'claude', model: 'haiku', timeout_seconds: 30 }).plan(task(1, { title: 'Fix typo', labels: ['docs'] }));
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]).toMatchObject({ purpose: 'route', agent: 'claude', model: 'haiku', taskId: 1, timeoutMs: 30_000 });
    expect(f.calls[0].prompt).toContain('Task #1: Fix typo');
    expect(f.calls[0].prompt).toContain('- codex (simple: mini, medium: gpt, complex: gpt-5.1-codex-max)');
    expect(plan.decision).toMatchObject({ agent: 'codex', model: 'mini', complexity: 'simple', source: 'llm' });
    expect(plan.record).toMatchObject({ mode: 'llm', tries: 1, routerNode: 'n1', routerModel: 'haiku', inputTokens: 10, outputTokens: 5, costUsd: 0.001, routerError: '' });
  });

  it('asks again after a malformed answer (bounded), adding up the usage of every try', async () => {
    const f = fakeAsker(['no idea', GOOD]);
    const plan = await routing(f.asker).plan(task(2));
    expect(f.calls).toHaveLength(2);
    expect(plan.record).toMatchObject({ tries: 2, inputTokens: 20, outputTokens: 10, routerError: '' });
    expect(plan.decision.source).toBe('llm');

    const bad = fakeAsker(['still prose']);
    const fallback = await routing(bad.asker, { agent: 'claude', fallback_executor: 'claude', max_tries: 3 }).plan(task(3));
    expect(bad.calls).toHaveLength(3);
    expect(fallback.decision).toMatchObject({ agent: 'claude', source: 'fallback', complexity: 'medium' });
    expect(fallback.record.routerError).toMatch(/not a JSON object/);
  });

  it('does not ask again when no node has the router agent; falls back to round-robin', async () => {
    const f = fakeAsker([new AskError('NoNode', 'no live node has agent claude')]);
    const plan = await routing(f.asker, { mode: 'llm', agent: 'claude' }, ['codex']).plan(task(4));
    expect(f.calls).toHaveLength(1);
    expect(plan.decision).toMatchObject({ agent: 'codex', source: 'round_robin' });
    expect(plan.record.routerError).toBe('NoNode: no live node has agent claude');
  });

  it('a timeout is tried again, then falls back', async () => {
    const f = fakeAsker([new AskError('Timeout', 'no answer in 30 s')]);
    const plan = await routing(f.asker, { agent: 'claude', fallback_executor: 'codex' }).plan(task(5));
    expect(f.calls).toHaveLength(2);
    expect(plan.decision).toMatchObject({ agent: 'codex', source: 'fallback' });
    expect(plan.decision.reason).toMatch(/router failed \(Timeout: no answer in 30 s\); fallback executor codex/);
  });

  it('a router pick that is not taken (no node has it) is recorded as why', async () => {
    const f = fakeAsker(['{"executor":"gemini","complexity":"simple"}']);
    const plan = await routing(f.asker, { agent: 'claude', fallback_executor: 'codex' }).plan(task(6));
    expect(plan.decision).toMatchObject({ agent: 'codex', source: 'fallback', complexity: 'simple' });
    expect(plan.record.routerError).toBe('router chose gemini, which no node has');
  });

  it('never asks when the agent is pinned', async () => {
    const f = fakeAsker([GOOD]);
    const r = routing(f.asker);
    expect((await r.plan(task(7, { labels: ['agent:claude'] }))).record).toMatchObject({ tries: 0, source: 'label' });
    expect((await r.plan(task(8, { agent: 'codex' }))).record).toMatchObject({ tries: 0, source: 'explicit' });
    expect(f.calls).toHaveLength(0);
  });

  it('plans many tasks at once, and one task once while its plan runs', async () => {
    const f = fakeAsker([GOOD]);
    const r = routing(f.asker);
    f.hold();
    const plans = [1, 2, 3, 4, 5].map((id) => r.plan(task(id)));
    const again = r.plan(task(3));
    await new Promise((res) => setImmediate(res));
    expect(r.pending).toBe(5);
    expect(f.peak).toBe(5);
    f.release();
    const done = await Promise.all(plans);
    expect(await again).toBe(await plans[2]);
    expect(f.calls).toHaveLength(5);
    expect(done.every((p) => p.decision.agent === 'codex')).toBe(true);
    expect(r.pending).toBe(0);
  });

  it('after three tasks in a row whose router failed, it is not asked for five minutes', async () => {
    let t = 1_000_000;
    const f = fakeAsker([new AskError('Timeout', 'no answer')]);
    const r = routing(f.asker, { agent: 'claude', fallback_executor: 'codex', max_tries: 1 }, ['claude', 'codex'], () => t);
    for (const id of [1, 2, 3]) expect((await r.plan(task(id))).record.tries).toBe(1);
    const paused = await r.plan(task(4));
    expect(f.calls).toHaveLength(3);
    expect(paused.decision).toMatchObject({ agent: 'codex', source: 'fallback' });
    expect(paused.record).toMatchObject({ tries: 0 });
    expect(paused.record.routerError).toMatch(/router paused after 3 failures in a row/);
    t += 5 * 60_000;
    await r.plan(task(5));
    expect(f.calls).toHaveLength(4);
  });

  it('one good answer between failures keeps the router in use', async () => {
    const f = fakeAsker(['prose', 'prose', GOOD, 'prose', 'prose', 'prose']);
    const r = routing(f.asker, { agent: 'claude', max_tries: 1 });
    for (const id of [1, 2, 3, 4, 5]) await r.plan(task(id));
    expect(f.calls).toHaveLength(5);
  });

  it('model_map.review names the model of a review run', () => {
    const { asker } = fakeAsker([GOOD]);
    const config = mergeConfig(defaultConfig(), { model_map: { review: { codex: ['gpt-review'] } } });
    const r = new Routing({ asker, config: () => config, liveAgents: () => ['codex'], advanceCursor: () => {}, state: () => ({ agents: ['codex'], modelMap: config.model_map, cursor: 0 }) });
    expect(r.reviewModel('o/r', 'codex')).toBe('gpt-review');
  });

  it('a plan knows the inputs it was made for', () => {
    expect(routeBasis(task(1, { labels: ['b', 'a'] }))).toBe(routeBasis(task(1, { labels: ['a', 'b'] })));
    expect(routeBasis(task(1))).not.toBe(routeBasis(task(1, { agent: 'codex' })));
  });
});
