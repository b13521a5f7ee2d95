import { describe, expect, it } from 'vitest';
import { modelFor, route, RoutingError, wantsLlm, weightedCycle, type RouterState } from '../../coordinator/router.js';
import { parseRouterAnswer, routerPrompt } from '../../coordinator/router-llm.js';

const state = (over: Partial<RouterState> = {}): RouterState => ({
  agents: ['claude', 'codex'],
  modelMap: { simple: { claude: 'haiku', codex: 'mini' }, medium: { claude: 'sonnet' }, complex: { claude: ['opus', 'opus-2'] } },
  cursor: 0,
  pick: () => 1,
  ...over,
});

describe('routing', () => {
  it('an explicit agent wins over labels and round-robin', () => {
    const d = route({ agent: 'codex', labels: ['agent:claude'] }, state());
    expect(d).toMatchObject({ agent: 'codex', usedCursor: false, complexity: 'medium' });
  });
  it('an agent: label picks the agent', () => {
    expect(route({ labels: ['bug', 'agent:codex'] }, state()).agent).toBe('codex');
  });
  it('round-robin walks the agents by cursor', () => {
    expect(route({ labels: [] }, state({ cursor: 0 }))).toMatchObject({ agent: 'claude', usedCursor: true });
    expect(route({ labels: [] }, state({ cursor: 1 })).agent).toBe('codex');
    expect(route({ labels: [] }, state({ cursor: 2 })).agent).toBe('claude');
  });
  it('complexity from the flag, then the label, then medium; the model from model_map', () => {
    expect(route({ complexity: 'simple', labels: ['complexity:complex'], agent: 'claude' }, state())).toMatchObject({ complexity: 'simple', model: 'haiku' });
    expect(route({ labels: ['complexity:complex'], agent: 'claude' }, state())).toMatchObject({ complexity: 'complex', model: 'opus-2' });
    expect(route({ labels: [], agent: 'codex' }, state())).toMatchObject({ complexity: 'medium', model: '' });
  });
  it('an unknown agent or complexity is a clear error', () => {
    expect(() => route({ agent: 'gemini', labels: [] }, state())).toThrow(/agent "gemini" is not configured/);
    expect(() => route({ complexity: 'huge', labels: [] }, state())).toThrow(RoutingError);
  });
  it('no agents at all names the fix', () => {
    expect(() => route({ labels: [] }, state({ agents: [] }))).toThrow(/no agent is configured/);
  });
});

describe('routing from what the fleet reports', () => {
  it('round-robin picks only agents some node has; a named agent no node has now is accepted (it waits)', () => {
    const s = state({ agents: ['claude'], known: ['claude', 'codex'] });
    expect(route({ labels: [] }, s).agent).toBe('claude');
    expect(route({ agent: 'codex', labels: [] }, s).agent).toBe('codex');
    expect(() => route({ agent: 'ghost', labels: [] }, s)).toThrow(RoutingError);
  });
});

// The routing table: one row per situation a user can be in, and what orch decides.
describe('routing decisions (table)', () => {
  const map = {
    simple: { claude: 'haiku', codex: 'mini' },
    medium: { claude: 'sonnet', codex: 'gpt-5' },
    complex: { claude: ['opus', 'opus-2', 'opus-3'], codex: 'gpt-5-max' },
    review: { claude: 'sonnet', codex: 'gpt-5' },
  };
  const cool = (...scopes: string[]) => (a: string, m: string) => scopes.includes(m ? `${a}/${m}` : a);
  const base: RouterState = { agents: ['claude', 'codex'], modelMap: map, cursor: 0, pick: () => 0 };
  const llm = (executor: string, complexity: 'simple' | 'medium' | 'complex', reason = 'fits') => ({ executor, complexity, reason });
  type Row = [string, Parameters<typeof route>[0], Partial<RouterState>, { agent: string; model: string; complexity: string; source: string; reason?: RegExp }];
  const rows: Row[] = [
    // overrides
    ['--agent beats the router and labels', { agent: 'codex', labels: ['agent:claude'], llm: llm('claude', 'simple') }, {}, { agent: 'codex', model: 'mini', complexity: 'simple', source: 'explicit' }],
    ['agent: label beats the router', { labels: ['agent:codex'], llm: llm('claude', 'complex') }, {}, { agent: 'codex', model: 'gpt-5-max', complexity: 'complex', source: 'label' }],
    ['complexity: label beats the router\'s tier', { labels: ['complexity:simple'], llm: llm('claude', 'complex') }, {}, { agent: 'claude', model: 'haiku', complexity: 'simple', source: 'llm' }],
    ['--complexity beats the label', { complexity: 'complex', labels: ['complexity:simple'], llm: llm('codex', 'simple') }, {}, { agent: 'codex', model: 'gpt-5-max', complexity: 'complex', source: 'llm' }],
    ['model: label beats model_map', { labels: ['model:opus-4'], llm: llm('claude', 'simple') }, {}, { agent: 'claude', model: 'opus-4', complexity: 'simple', source: 'llm' }],
    // tiers from the router
    ['router: simple -> the simple model', { labels: [], llm: llm('claude', 'simple', 'a typo') }, {}, { agent: 'claude', model: 'haiku', complexity: 'simple', source: 'llm', reason: /router: a typo/ }],
    ['router: medium -> the medium model', { labels: [], llm: llm('codex', 'medium') }, {}, { agent: 'codex', model: 'gpt-5', complexity: 'medium', source: 'llm' }],
    ['router: complex -> the complex model', { labels: [], llm: llm('codex', 'complex') }, {}, { agent: 'codex', model: 'gpt-5-max', complexity: 'complex', source: 'llm' }],
    // lists and cooldowns
    ['a model list: the picked one', { labels: [], llm: llm('claude', 'complex') }, { pick: () => 1 }, { agent: 'claude', model: 'opus-2', complexity: 'complex', source: 'llm' }],
    ['a model list skips cooled-down models', { labels: [], llm: llm('claude', 'complex') }, { cooling: cool('claude/opus', 'claude/opus-2') }, { agent: 'claude', model: 'opus-3', complexity: 'complex', source: 'llm' }],
    ['a list whose models all cool down still gives one', { labels: [], llm: llm('claude', 'complex') }, { cooling: cool('claude/opus', 'claude/opus-2', 'claude/opus-3') }, { agent: 'claude', model: 'opus', complexity: 'complex', source: 'llm' }],
    // fallback
    ['router picks an agent no node has -> fallback executor', { labels: [], llm: llm('gemini', 'simple') }, { fallbackAgent: 'codex' }, { agent: 'codex', model: 'mini', complexity: 'simple', source: 'fallback', reason: /gemini, which no node has; fallback executor codex/ }],
    ['router picks a cooling agent -> fallback executor', { labels: [], llm: llm('claude', 'medium') }, { fallbackAgent: 'codex', cooling: cool('claude') }, { agent: 'codex', model: 'gpt-5', complexity: 'medium', source: 'fallback', reason: /cooling down/ }],
    ['fallback executor cooling too -> round-robin past it', { labels: [], llm: llm('claude', 'medium') }, { agents: ['claude', 'codex', 'kimi'], fallbackAgent: 'codex', cooling: cool('claude', 'codex') }, { agent: 'kimi', model: '', complexity: 'medium', source: 'round_robin' }],
    ['no fallback configured -> round-robin', { labels: [], llm: llm('gemini', 'complex') }, { cursor: 1 }, { agent: 'codex', model: 'gpt-5-max', complexity: 'complex', source: 'round_robin', reason: /gemini.*; round-robin/ }],
    // router errors
    ['router failed -> fallback executor, tier medium', { labels: [], llm: { error: 'Timeout: no answer in 120 s' } }, { fallbackAgent: 'codex' }, { agent: 'codex', model: 'gpt-5', complexity: 'medium', source: 'fallback', reason: /router failed \(Timeout/ }],
    ['router failed, no fallback -> round-robin', { labels: [], llm: { error: 'malformed' } }, {}, { agent: 'claude', model: 'sonnet', complexity: 'medium', source: 'round_robin', reason: /router failed \(malformed\); round-robin/ }],
    ['router failed but a label names the tier', { labels: ['complexity:simple'], llm: { error: 'malformed' } }, { fallbackAgent: 'claude' }, { agent: 'claude', model: 'haiku', complexity: 'simple', source: 'fallback' }],
    // weights
    ['weights: claude 3, codex 1 -> cursor 2 is codex', { labels: [] }, { weights: { claude: 3, codex: 1 }, cursor: 2 }, { agent: 'codex', model: 'gpt-5', complexity: 'medium', source: 'round_robin', reason: /weighted round-robin/ }],
    ['weights: cursor 3 is claude again', { labels: [] }, { weights: { claude: 3, codex: 1 }, cursor: 3 }, { agent: 'claude', model: 'sonnet', complexity: 'medium', source: 'round_robin' }],
    ['weight 0: never by round-robin', { labels: [] }, { weights: { claude: 0 }, cursor: 0 }, { agent: 'codex', model: 'gpt-5', complexity: 'medium', source: 'round_robin' }],
    ['weight 0 still takes a label', { labels: ['agent:claude'] }, { weights: { claude: 0 } }, { agent: 'claude', model: 'sonnet', complexity: 'medium', source: 'label' }],
  ];
  it.each(rows)('%s', (_name, input, over, want) => {
    const d = route(input, { ...base, ...over });
    expect(d).toMatchObject({ agent: want.agent, model: want.model, complexity: want.complexity, source: want.source });
    if (want.reason) expect(d.reason).toMatch(want.reason);
  });

  it('weighted round-robin over a cycle gives each agent its share, smoothly', () => {
    expect(weightedCycle(['claude', 'codex'], { claude: 3, codex: 1 })).toEqual(['claude', 'claude', 'codex', 'claude']);
    const picks = Array.from({ length: 40 }, (_, cursor) => route({ labels: [] }, { ...base, weights: { claude: 3, codex: 1 }, cursor }).agent);
    expect(picks.filter((a) => a === 'claude')).toHaveLength(30);
    expect(picks.filter((a) => a === 'codex')).toHaveLength(10);
  });

  it('the router is asked only when no one fixed the agent, and only in llm mode', () => {
    expect(wantsLlm({ labels: [] }, 'llm')).toBe(true);
    expect(wantsLlm({ labels: ['complexity:simple'] }, 'llm')).toBe(true);
    expect(wantsLlm({ labels: ['agent:codex'] }, 'llm')).toBe(false);
    expect(wantsLlm({ agent: 'codex', labels: [] }, 'llm')).toBe(false);
    expect(wantsLlm({ labels: [] }, 'round_robin')).toBe(false);
  });

  it('model_map.review gives the model of review runs', () => {
    expect(modelFor('review', 'codex', base)).toBe('gpt-5');
    expect(modelFor('review', 'kimi', base)).toBe('');
  });
});

describe('the router\'s answer', () => {
  it.each([
    ['plain JSON', '{"executor":"codex","complexity":"simple","reason":"one line"}', { executor: 'codex', complexity: 'simple', reason: 'one line' }],
    ['a fenced block after prose', 'Here you go:\n```json\n{"executor": "claude", "complexity": "Complex", "reason": "many files"}\n```', { executor: 'claude', complexity: 'complex', reason: 'many files' }],
    ['an object inside prose', 'I think {"executor":"claude","complexity":"medium"} fits', { executor: 'claude', complexity: 'medium', reason: '' }],
  ])('%s is a decision', (_n, text, want) => {
    expect(parseRouterAnswer(text)).toEqual(want);
  });
  it.each([
    ['empty', '', /empty answer/],
    ['prose only', 'Claude should do it.', /not a JSON object: "Claude should do it."/],
    ['no executor', '{"complexity":"simple"}', /no "executor"/],
    ['an unknown tier', '{"executor":"claude","complexity":"trivial"}', /complexity "trivial" is not simple, medium or complex/],
    ['an executor that is no name', '{"executor":"rm -rf /","complexity":"simple"}', /is not an agent name/],
    ['an array', '["claude", "simple"]', /not a JSON object/],
  ])('%s is rejected with a reason', (_n, text, why) => {
    const v = parseRouterAnswer(text);
    expect('error' in v && v.error).toMatch(why);
  });
  it('the prompt carries the title, body, labels and the fleet\'s agents with their models', () => {
    const p = routerPrompt({ taskId: 7, title: 'Fix the login', body: 'The form 500s', labels: ['bug', 'web'], agents: [{ name: 'claude', models: { simple: 'haiku', complex: 'opus' } }, { name: 'codex', models: {} }] });
    expect(p).toContain('Task #7: Fix the login');
    expect(p).toContain('Labels: bug, web');
    expect(p).toContain('The form 500s');
    expect(p).toContain('- claude (simple: haiku, complex: opus)');
    expect(p).toContain('- codex\n');
  });
});
