// NodeRegistry: which agent-nodes exist, what they can run, how full they are and
// whether they are alive, as this coordinator sees it. Liveness comes from heartbeats
// (the bus's KV bucket, or gRPC when a node cannot reach the bus), timed by this
// process's own clock at receipt (never the sender's or the NATS server's, which may be
// skewed). A node is placeable only once it has registered with this coordinator, so a
// restarted coordinator learns what each node still runs before it places more there.
import { NodeInfo } from '../proto/gen/orch/v1/types.js';
import type { NodeSnapshot } from './placement.js';

export interface InFlight {
  taskId: number;
  attempt: number;
  token: string;
}

interface Entry {
  info: NodeInfo;
  lastSeen: number;
  state: 'up' | 'draining' | 'stopping' | 'lost';
  /** Registered with this coordinator (its held attempts reconciled). */
  registered: boolean;
  /** An operator drained it (`orch node drain`): no placement, survives its restarts. */
  drained?: string;
  /** A node that stopped gracefully keeps its attempts until then. */
  holdUntil: number;
  inFlight: Map<string, InFlight>;
  /** Attempts the node's heartbeats did not list, and tokens it listed that are not ours: times in a row. */
  missing: Map<string, number>;
  stray: Map<string, number>;
  lastPlacedAt: number;
  /** When its in-flight attempts were handed back after it went silent. */
  released: boolean;
}

export interface HeartbeatOutcome {
  /** False: the node must Register (this coordinator restarted, or had marked it lost). */
  known: boolean;
  /** Attempts we placed there that the node says (twice) it does not hold. */
  vanished: InFlight[];
  /** Tokens the node holds (twice) that are no attempt of ours there: to be stopped. */
  stray: string[];
}

export interface RegistryOptions {
  /** A node silent this long is lost: no more placement there. */
  ttlMs: number;
  /**
   * Extra wait before a silent node's attempts are handed back: by then its sessions have
   * stopped themselves (their lease ran out), so a re-run never overlaps the old one.
   */
  fenceMs: number;
  /** A silent node's attempts, to re-queue. */
  onLost(node: string, attempts: InFlight[]): void;
}

export class NodeRegistry {
  private nodes = new Map<string, Entry>();
  private placements = 0;

  constructor(private readonly o: RegistryOptions) {}

  private entry(name: string): Entry {
    let e = this.nodes.get(name);
    if (!e) {
      e = {
        info: NodeInfo.fromPartial({ name, state: 'lost' }),
        lastSeen: 0, state: 'lost', registered: false, holdUntil: 0, inFlight: new Map(), missing: new Map(), stray: new Map(), lastPlacedAt: 0, released: false,
      };
      this.nodes.set(name, e);
    }
    return e;
  }

  private stateOf(e: Entry, now: number): Entry['state'] {
    if (e.info.holdSeconds > 0) {
      e.holdUntil = Math.max(e.holdUntil, now + e.info.holdSeconds * 1000);
      return 'stopping';
    }
    // A node's own 'draining' only echoes our drain (it learns an undrain a beat later): ours decides.
    return e.drained ? 'draining' : 'up';
  }

  /** Names revoked by an operator: their heartbeats (bus KV included) no longer count until they enrol and register again. */
  private revoked = new Set<string>();

  /**
   * `orch node revoke`: the node counts as silent from now on; the next sweep marks it
   * lost and, after the fence delay, hands its attempts back. Returns how many it ran.
   */
  revoke(name: string, now = Date.now()): number {
    this.revoked.add(name);
    const e = this.nodes.get(name);
    if (!e) return 0;
    if (e.state !== 'lost') e.lastSeen = Math.min(e.lastSeen, now - this.o.ttlMs);
    e.holdUntil = 0;
    if (e.state === 'stopping') e.state = 'up';
    return e.inFlight.size;
  }

  /** The node registered (first start, restart, or asked to because we did not know it). */
  register(info: NodeInfo, now = Date.now()): void {
    this.revoked.delete(info.name);
    const e = this.entry(info.name);
    e.info = { ...info };
    e.lastSeen = now;
    e.registered = true;
    e.released = false;
    e.holdUntil = 0;
    e.missing.clear();
    e.stray.clear();
    e.state = this.stateOf(e, now);
  }

  /** A heartbeat (bus KV or gRPC), timed by our clock at receipt. */
  heartbeat(name: string, info: NodeInfo | undefined, now = Date.now()): HeartbeatOutcome {
    const out: HeartbeatOutcome = { known: false, vanished: [], stray: [] };
    const e = this.nodes.get(name);
    if (!e || this.revoked.has(name)) return out;
    // Even before it registers again, a node that heartbeats is alive: its attempts are not lost.
    if (e.state !== 'lost') e.lastSeen = Math.max(e.lastSeen, now);
    if (!e.registered || e.state === 'lost') return out;
    out.known = true;
    if (info) {
      // The address the coordinator saw at Register wins over a node's own guess (its hostname).
      e.info = { ...info, name, address: e.info.address || info.address || '' };
      if (!info.holdSeconds) e.holdUntil = 0;
      e.state = this.stateOf(e, now);
      const held = new Set(info.held);
      for (const a of e.inFlight.values()) {
        if (held.has(a.token)) { e.missing.delete(a.token); continue; }
        if (!this.running.has(a.token)) continue; // not claimed yet: it may still sit in the queue
        const n = (e.missing.get(a.token) ?? 0) + 1;
        e.missing.set(a.token, n);
        if (n >= 2) out.vanished.push(a);
      }
      for (const t of e.stray.keys()) if (!held.has(t)) e.stray.delete(t);
      for (const t of held) {
        if (e.inFlight.has(t)) continue;
        const n = (e.stray.get(t) ?? 0) + 1;
        e.stray.set(t, n);
        if (n >= 2) out.stray.push(t);
      }
    }
    return out;
  }

  /** Tokens of attempts whose start a node has claimed. */
  private running = new Set<string>();

  isClaimed(token: string): boolean {
    return this.running.has(token);
  }

  /** A node claimed this attempt's start: from now on its heartbeats must list it. */
  claimed(token: string): void {
    this.running.add(token);
  }

  /** A node that held attempts before a coordinator restart: lost unless it heartbeats or registers within the TTL. */
  expect(name: string, now = Date.now()): void {
    const e = this.entry(name);
    if (e.state === 'lost' && !e.registered) {
      e.state = 'up';
      e.lastSeen = now;
    }
  }

  /** An operator's drain (reason) or undrain (undefined); kept across the node's restarts. */
  setDrained(name: string, reason: string | undefined, now = Date.now()): void {
    const e = this.entry(name);
    e.drained = reason;
    if (e.state !== 'lost') e.state = this.stateOf(e, now);
  }

  drainReason(name: string): string | undefined {
    return this.nodes.get(name)?.drained;
  }

  placed(node: string, a: InFlight): void {
    const e = this.entry(node);
    e.inFlight.set(a.token, a);
    e.lastPlacedAt = ++this.placements;
  }

  inFlight(node: string): InFlight[] {
    return [...(this.nodes.get(node)?.inFlight.values() ?? [])];
  }

  /**
   * The observer was blind (its own bus connection was down): silence in that window says
   * nothing about the nodes, so every live node gets a fresh TTL from now.
   */
  grace(now = Date.now()): void {
    for (const e of this.nodes.values()) if (e.state !== 'lost') e.lastSeen = Math.max(e.lastSeen, now);
  }

  /**
   * Nodes silent past the TTL (or past their graceful-stop hold) become lost: no more
   * placement. Their in-flight attempts go to onLost once the fence delay has also passed.
   */
  sweep(now = Date.now()): string[] {
    const lost: string[] = [];
    for (const [name, e] of this.nodes) {
      const deadline = e.state === 'stopping' ? Math.max(e.holdUntil, e.lastSeen + this.o.ttlMs) : e.lastSeen + this.o.ttlMs;
      if (e.state !== 'lost' && now > deadline) {
        e.state = 'lost';
        e.registered = false;
        lost.push(name);
      }
      if (e.state === 'lost' && !e.released && now > deadline + this.o.fenceMs) {
        e.released = true;
        const attempts = [...e.inFlight.values()];
        e.inFlight.clear();
        for (const a of attempts) this.running.delete(a.token);
        if (attempts.length) this.o.onLost(name, attempts);
      }
    }
    return lost;
  }

  /** An attempt is over (ended, lost or superseded): it no longer takes a slot. */
  drop(node: string, token: string): InFlight | undefined {
    this.running.delete(token);
    const e = this.nodes.get(node);
    const a = e?.inFlight.get(token);
    if (a) {
      e!.inFlight.delete(token);
      e!.missing.delete(token);
    }
    return a;
  }

  snapshots(): NodeSnapshot[] {
    return [...this.nodes.values()].map((e) => ({
      name: e.info.name,
      // Placeable only when registered with us and able to pull from the bus.
      state: e.state !== 'up' ? e.state : !e.registered ? 'registering' : e.info.busDown ? 'off the bus' : 'up',
      slots: e.info.slots,
      // The node's own count guards against sessions we do not know of yet.
      inFlight: Math.max(e.inFlight.size, e.info.running),
      agents: e.info.agents.filter((a) => a.installed).map((a) => a.name), tools: e.info.tools, lastPlacedAt: e.lastPlacedAt,
    }));
  }

  /** Agents some registered, live node has installed. */
  fleetAgents(): string[] {
    const out = new Set<string>();
    for (const e of this.nodes.values()) {
      if (e.state === 'lost' || !e.registered) continue;
      for (const a of e.info.agents) if (a.installed) out.add(a.name);
    }
    return [...out].sort();
  }

  /** Drop a node entirely (`orch node remove`); false when it was not known. */
  forget(name: string): boolean {
    return this.nodes.delete(name);
  }

  list(): NodeInfo[] {
    return [...this.nodes.values()]
      .filter((e) => e.info.slots > 0 || e.inFlight.size > 0)
      .map((e) => ({
        ...e.info, running: e.inFlight.size, state: e.state, drainReason: e.drained ?? (e.state === 'draining' ? e.info.drainReason : ''),
        lastHeartbeat: e.lastSeen ? new Date(e.lastSeen).toISOString() : '',
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  isUp(node: string): boolean {
    return this.nodes.get(node)?.state === 'up';
  }

  /**
   * Lost, and its attempts already handed back (the fence delay passed). A node we have
   * never heard of gets a TTL to show up first.
   */
  isLost(node: string, now = Date.now()): boolean {
    const e = this.nodes.get(node);
    if (!e) {
      this.expect(node, now);
      return false;
    }
    return e.state === 'lost' && e.released;
  }

  /** Agents nodes reported to an earlier coordinator (from the store), known before they register again. */
  private remembered = new Set<string>();

  rememberAgents(names: string[]): void {
    for (const n of names) this.remembered.add(n);
  }

  /** Agents any node ever reported (lost ones and earlier coordinators' included). */
  everSeenAgents(): string[] {
    const out = new Set<string>(this.remembered);
    for (const e of this.nodes.values()) for (const a of e.info.agents) out.add(a.name);
    return [...out];
  }
}
