// NodeRegistry: which agent-nodes exist, what they can run, how full they are and
// whether they are alive. Liveness comes from heartbeats (a KV bucket on the bus);
// a node silent for longer than the TTL is lost and its attempts are handed back.
import type { NodeInfo } from '../proto/gen/orch/v1/types.js';
import type { NodeSnapshot } from './placement.js';

export interface InFlight {
  taskId: number;
  attempt: number;
  token: string;
}

interface Entry {
  info: NodeInfo;
  lastSeen: number;
  state: 'up' | 'draining' | 'lost';
  inFlight: Map<string, InFlight>;
  lastPlacedAt: number;
}

export class NodeRegistry {
  private nodes = new Map<string, Entry>();
  private placements = 0;

  constructor(private readonly ttlMs: number, private readonly onLost: (node: string, attempts: InFlight[]) => void) {}

  private entry(name: string): Entry {
    let e = this.nodes.get(name);
    if (!e) {
      e = { info: { name, address: '', slots: 0, running: 0, agents: [], tools: [], os: '', arch: '', labels: [], lastHeartbeat: '', state: 'lost', version: '' }, lastSeen: 0, state: 'lost', inFlight: new Map(), lastPlacedAt: 0 };
      this.nodes.set(name, e);
    }
    return e;
  }

  register(info: NodeInfo, now = Date.now()): void {
    const e = this.entry(info.name);
    e.info = info;
    e.lastSeen = now;
    e.state = info.state === 'draining' ? 'draining' : 'up';
  }

  /** A heartbeat from a node we know; unknown nodes must Register first. */
  heartbeat(name: string, info: Partial<NodeInfo> | undefined, now = Date.now()): boolean {
    const e = this.nodes.get(name);
    if (!e || e.info.slots === 0) return false;
    e.lastSeen = Math.max(e.lastSeen, now);
    // The address the coordinator saw at Register wins over a node's own guess (its hostname).
    if (info) e.info = { ...e.info, ...info, name, address: e.info.address || info.address || '' };
    e.state = e.info.state === 'draining' ? 'draining' : 'up';
    return true;
  }

  /** A node that held attempts before a coordinator restart: lost unless it registers within the TTL. */
  expect(name: string, now = Date.now()): void {
    const e = this.entry(name);
    if (e.state === 'lost') {
      e.state = 'up';
      e.lastSeen = now;
    }
  }

  placed(node: string, a: InFlight): void {
    const e = this.entry(node);
    e.inFlight.set(a.token, a);
    e.lastPlacedAt = ++this.placements;
  }

  ended(node: string, token: string): void {
    this.nodes.get(node)?.inFlight.delete(token);
  }

  inFlight(node: string): InFlight[] {
    return [...(this.nodes.get(node)?.inFlight.values() ?? [])];
  }

  /** Nodes silent past the TTL become lost; their in-flight attempts go to onLost. */
  /**
   * The observer was blind (its own bus connection was down): silence in that window says
   * nothing about the nodes, so every live node gets a fresh TTL from now.
   */
  grace(now = Date.now()): void {
    for (const e of this.nodes.values()) if (e.state !== 'lost') e.lastSeen = Math.max(e.lastSeen, now);
  }

  sweep(now = Date.now()): string[] {
    const lost: string[] = [];
    for (const [name, e] of this.nodes) {
      if (e.state !== 'lost' && now - e.lastSeen > this.ttlMs) {
        e.state = 'lost';
        lost.push(name);
        const attempts = [...e.inFlight.values()];
        e.inFlight.clear();
        this.onLost(name, attempts);
      }
    }
    return lost;
  }

  /** Mark a node lost now (e.g. it registered again after a crash and no longer holds some attempts). */
  drop(node: string, token: string): InFlight | undefined {
    const e = this.nodes.get(node);
    const a = e?.inFlight.get(token);
    if (a) e!.inFlight.delete(token);
    return a;
  }

  snapshots(): NodeSnapshot[] {
    return [...this.nodes.values()].map((e) => ({
      name: e.info.name, state: e.state, slots: e.info.slots, inFlight: e.inFlight.size,
      agents: e.info.agents.filter((a) => a.installed).map((a) => a.name), tools: e.info.tools, lastPlacedAt: e.lastPlacedAt,
    }));
  }

  list(): NodeInfo[] {
    return [...this.nodes.values()]
      .map((e) => ({ ...e.info, running: e.inFlight.size, state: e.state, lastHeartbeat: e.lastSeen ? new Date(e.lastSeen).toISOString() : '' }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  isUp(node: string): boolean {
    return this.nodes.get(node)?.state === 'up';
  }
}
