import { describe, expect, it } from 'vitest';
import { route, RoutingError, type RouterState } from '../../coordinator/router.js';

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
