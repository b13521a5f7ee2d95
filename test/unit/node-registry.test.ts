// NodeRegistry's decisions, on an injected clock: liveness timed by our own clock,
// nodes that must register again, attempts a node no longer runs, slots, drain.
import { describe, expect, it } from 'vitest';
import { NodeRegistry, type InFlight } from '../../coordinator/node-registry.js';
import { NodeInfo } from '../../proto/gen/orch/v1/types.js';

const info = (name: string, over: Partial<NodeInfo> = {}) =>
  NodeInfo.fromPartial({ name, slots: 2, agents: [{ name: 'claude', installed: true }], state: 'up', ...over });

function registry(ttlMs = 1_000, fenceMs = 500) {
  const lost: Array<{ node: string; attempts: InFlight[] }> = [];
  const r = new NodeRegistry({ ttlMs, fenceMs, onLost: (node, attempts) => lost.push({ node, attempts }) });
  return { r, lost };
}

describe('node registry', () => {
  it('times heartbeats by the coordinator\'s clock at receipt, so a skewed sender never makes a node flap', () => {
    const { r } = registry();
    r.register(info('a'), 10_000);
    // The heartbeat carries the node's (or NATS server's) idea of the time, an hour behind: ignored.
    r.heartbeat('a', info('a', { lastHeartbeat: new Date(0).toISOString() }), 10_900);
    expect(r.sweep(11_500)).toEqual([]);
    expect(r.isUp('a')).toBe(true);
  });

  it('a heartbeat from a node this coordinator does not know (it restarted) asks the node to register', () => {
    const { r } = registry();
    r.expect('a', 0); // it held attempts before the restart
    const hb = r.heartbeat('a', info('a'), 500);
    expect(hb.known).toBe(false);
    // Still, its heartbeats keep it from being declared lost while it registers.
    expect(r.sweep(1_400)).toEqual([]);
    expect(r.snapshots()[0].state).toBe('registering'); // and nothing is placed there until it has
    r.register(info('a'), 1_450);
    expect(r.snapshots()[0].state).toBe('up');
  });

  it('a lost node that heartbeats again must register again; its attempts were handed back only after the fence', () => {
    const { r, lost } = registry(1_000, 500);
    r.register(info('a'), 0);
    r.placed('a', { taskId: 1, attempt: 1, token: 't1' });
    expect(r.sweep(1_100)).toEqual(['a']);
    expect(lost).toEqual([]); // lost, but its sessions may still be dying: not yet
    r.sweep(1_400);
    expect(lost).toEqual([]);
    r.sweep(1_600);
    expect(lost).toEqual([{ node: 'a', attempts: [{ taskId: 1, attempt: 1, token: 't1' }] }]);
    expect(r.heartbeat('a', info('a'), 2_000).known).toBe(false);
    expect(r.snapshots()[0]).toMatchObject({ state: 'lost', inFlight: 0 });
  });

  it('an attempt the node says (twice) it does not run is vanished; a session it runs that is not ours is stray', () => {
    const { r } = registry();
    r.register(info('a'), 0);
    r.placed('a', { taskId: 1, attempt: 1, token: 'mine' });
    r.placed('a', { taskId: 2, attempt: 1, token: 'queued' }); // not claimed yet: may still be in the queue
    r.claimed('mine');
    const once = r.heartbeat('a', info('a', { held: ['old'] }), 100);
    expect([once.vanished, once.stray]).toEqual([[], []]);
    const twice = r.heartbeat('a', info('a', { held: ['old'] }), 200);
    expect(twice.vanished.map((a) => a.token)).toEqual(['mine']);
    expect(twice.stray).toEqual(['old']);
  });

  it('counts the node\'s own running sessions when it reports more than we placed', () => {
    const { r } = registry();
    r.register(info('a', { running: 2 }), 0);
    expect(r.snapshots()[0].inFlight).toBe(2);
  });

  it('a drained node takes no work until resumed; a stopping node keeps its attempts for its grace', () => {
    const { r, lost } = registry(1_000, 0);
    r.register(info('a'), 0);
    r.setDrained('a', 'maintenance', 0);
    expect(r.snapshots()[0].state).toBe('draining');
    // The node echoes the drain; resuming is ours to decide, at once.
    r.heartbeat('a', info('a', { state: 'draining' }), 100);
    r.setDrained('a', undefined, 150);
    expect(r.snapshots()[0].state).toBe('up');
    r.placed('a', { taskId: 3, attempt: 1, token: 't3' });
    r.heartbeat('a', info('a', { holdSeconds: 10, held: ['t3'] }), 200);
    expect(r.snapshots()[0].state).toBe('stopping');
    expect(r.sweep(5_000)).toEqual([]); // silent past the TTL, but within its grace
    expect(r.sweep(10_300)).toEqual(['a']);
    expect(lost.map((l) => l.attempts.map((a) => a.token))).toEqual([['t3']]);
  });

  it('routes from what the fleet has installed, and knows agents the fleet has ever reported', () => {
    const { r } = registry();
    r.register(NodeInfo.fromPartial({ name: 'a', slots: 2, agents: [{ name: 'claude', installed: true }, { name: 'codex', installed: false }] }), 0);
    expect(r.fleetAgents()).toEqual(['claude']);
    expect(r.everSeenAgents().sort()).toEqual(['claude', 'codex']);
  });

  it('a revoked node counts as silent at once: its bus heartbeats no longer count, its attempts are handed back after the fence', () => {
    const { r, lost } = registry(1_000, 500);
    r.register(info('a'), 0);
    r.placed('a', { taskId: 1, attempt: 1, token: 't1' });
    expect(r.revoke('a', 100)).toBe(1);
    // Its heartbeats over the bus (no certificate there) still arrive: ignored.
    expect(r.heartbeat('a', info('a', { held: ['t1'] }), 200).known).toBe(false);
    expect(r.sweep(200)).toEqual(['a']);
    expect(lost).toEqual([]); // the fence: its sessions stop themselves first
    r.heartbeat('a', info('a', { held: ['t1'] }), 650);
    r.sweep(700);
    expect(lost).toEqual([{ node: 'a', attempts: [{ taskId: 1, attempt: 1, token: 't1' }] }]);
    // Enrolled again and registered: it counts again.
    r.register(info('a'), 800);
    expect(r.heartbeat('a', info('a'), 900).known).toBe(true);
  });
});
