import { describe, expect, it } from 'vitest';
import { place, type NodeSnapshot } from '../../coordinator/placement.js';

const node = (name: string, over: Partial<NodeSnapshot> = {}): NodeSnapshot => ({
  name, state: 'up', slots: 2, inFlight: 0, agents: ['claude'], tools: ['git'], ...over,
});

describe('placement', () => {
  it('no nodes: nowhere, with the reason', () => {
    expect(place([], { agent: 'claude', requiredTools: [] })).toEqual({ node: undefined, why: 'no agent-node is registered' });
  });
  it('only a node that has the agent, the tools and room', () => {
    const nodes = [
      node('a', { agents: ['codex'] }),
      node('b', { tools: [] }),
      node('c', { inFlight: 2 }),
      node('d', { state: 'lost' }),
      node('e'),
    ];
    expect(place(nodes, { agent: 'claude', requiredTools: ['git'] })).toEqual({ node: 'e' });
  });
  it('explains why nothing fits', () => {
    const p = place([node('a', { inFlight: 2 }), node('b', { agents: [] })], { agent: 'claude', requiredTools: [] });
    expect(p.node).toBeUndefined();
    expect((p as { why: string }).why).toContain('a: full (2/2)');
    expect((p as { why: string }).why).toContain('b: no claude');
  });
  it('spreads work: the node with most free slots first', () => {
    const nodes = [node('a', { slots: 4, inFlight: 3 }), node('b', { slots: 4, inFlight: 1 }), node('c', { slots: 2, inFlight: 0 })];
    expect(place(nodes, { agent: 'claude', requiredTools: [] })).toEqual({ node: 'b' });
  });
  it('among equally free nodes, the one placed on longest ago goes first (one-at-a-time arrivals still spread)', () => {
    const nodes = [node('a', { lastPlacedAt: 7 }), node('b', { lastPlacedAt: 5 }), node('c', { lastPlacedAt: 6 })];
    expect(place(nodes, { agent: 'claude', requiredTools: [] })).toEqual({ node: 'b' });
    expect(place([node('a', { lastPlacedAt: 2 }), node('z')], { agent: 'claude', requiredTools: [] })).toEqual({ node: 'z' });
  });
  it('never places on a draining node', () => {
    expect(place([node('a', { state: 'draining' })], { agent: 'claude', requiredTools: [] }).node).toBeUndefined();
  });
});
