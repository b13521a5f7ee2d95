// LocalBus: the bus contract in one process (the embedded default). It keeps the
// JetStream semantics the coordinator and node rely on: durable work queue with
// ack/nak/term, ack-wait redelivery, max-deliver exhaustion, msgId dedupe, KV with
// TTL (expiry shows as DEL), and request/reply with timeout and no-responders.
import { BusRequestError, type Bus, type Consumer, type ConsumeOptions, type Delivery, type Headers, type KeyValue, type KvEntry, type Subscription, type WorkQueue } from './bus.js';

/** NATS subject matching: `*` one token, `>` the rest. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

interface Msg {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Headers;
  deliveries: number;
  /** Not deliverable before this time (nak delay). */
  notBefore: number;
  /** Held by a consumer until this time (ack wait). */
  heldUntil: number;
  heldBy?: LocalConsumer;
  done: boolean;
}

const DEDUPE_WINDOW_MS = 120_000;

class LocalQueue implements WorkQueue {
  private msgs: Msg[] = [];
  private seq = 0;
  private consumers = new Set<LocalConsumer>();
  private exhausted: Array<(s: string, d: Uint8Array, h: Headers) => void | Promise<void>> = [];
  private recentIds = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly name: string, readonly subjects: string[]) {}

  async publish(subject: string, data: Uint8Array, opts: { msgId?: string; headers?: Headers } = {}): Promise<void> {
    if (!this.subjects.some((f) => subjectMatches(f, subject))) throw new Error(`subject ${subject} is not in queue ${this.name}`);
    const now = Date.now();
    if (opts.msgId) {
      for (const [id, t] of this.recentIds) if (now - t > DEDUPE_WINDOW_MS) this.recentIds.delete(id); else break;
      if (this.recentIds.has(opts.msgId)) return;
      this.recentIds.set(opts.msgId, now);
    }
    this.msgs.push({ seq: ++this.seq, subject, data, headers: { ...(opts.headers ?? {}) }, deliveries: 0, notBefore: 0, heldUntil: 0, done: false });
    this.kick();
  }

  async consume(opts: ConsumeOptions): Promise<Consumer> {
    for (const c of this.consumers) if (c.opts.durable === opts.durable) await c.stop();
    const c = new LocalConsumer(this, opts);
    this.consumers.add(c);
    this.kick();
    return c;
  }

  onExhausted(handler: (s: string, d: Uint8Array, h: Headers) => void | Promise<void>): void {
    this.exhausted.push(handler);
  }

  async purge(subject: string): Promise<number> {
    let n = 0;
    for (const m of this.msgs) if (!m.done && subjectMatches(subject, m.subject)) { m.done = true; n++; }
    this.compact();
    return n;
  }

  removeConsumer(c: LocalConsumer): void {
    this.consumers.delete(c);
    for (const m of this.msgs) if (m.heldBy === c) { m.heldBy = undefined; m.heldUntil = 0; }
    this.kick();
  }

  settle(m: Msg, how: 'ack' | 'nak' | 'term', delayMs = 0): void {
    if (m.done) return;
    m.heldBy = undefined;
    m.heldUntil = 0;
    if (how === 'nak') m.notBefore = Date.now() + delayMs;
    else m.done = true;
    this.compact();
    this.kick();
  }

  extend(m: Msg, ms: number): void {
    if (!m.done && m.heldBy) m.heldUntil = Date.now() + ms;
  }

  private compact(): void {
    if (this.msgs.length > 64 && this.msgs.filter((m) => m.done).length > this.msgs.length / 2) this.msgs = this.msgs.filter((m) => !m.done);
    else while (this.msgs.length && this.msgs[0].done) this.msgs.shift();
  }

  /** Deliver what can be delivered now; schedule the next check for delayed or held messages. */
  kick(): void {
    queueMicrotask(() => this.pump());
  }

  private pump(): void {
    const now = Date.now();
    let next = Infinity;
    for (const m of this.msgs) {
      if (m.done) continue;
      if (m.heldBy) {
        if (m.heldUntil > now) { next = Math.min(next, m.heldUntil); continue; }
        m.heldBy = undefined; // ack wait passed: redeliver
      }
      if (m.notBefore > now) { next = Math.min(next, m.notBefore); continue; }
      const c = [...this.consumers].find((x) => x.wants(m.subject));
      if (!c) continue;
      if (m.deliveries >= c.maxDeliver) {
        m.done = true;
        for (const h of this.exhausted) void Promise.resolve(h(m.subject, m.data, m.headers)).catch(() => undefined);
        continue;
      }
      m.deliveries++;
      m.heldBy = c;
      m.heldUntil = now + c.ackWaitMs;
      next = Math.min(next, m.heldUntil);
      c.deliver(m);
    }
    this.compact();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (next !== Infinity) {
      this.timer = setTimeout(() => this.pump(), Math.max(1, next - Date.now()));
      this.timer.unref();
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

class LocalConsumer implements Consumer {
  private stopped = false;
  private inFlight = 0;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;

  constructor(private readonly q: LocalQueue, readonly opts: ConsumeOptions) {
    this.ackWaitMs = opts.ackWaitMs ?? 30_000;
    this.maxDeliver = opts.maxDeliver ?? 5;
  }

  /** Capacity is asked before each delivery, as a pull consumer asks before each fetch. */
  wants(subject: string): boolean {
    return !this.stopped && subjectMatches(this.opts.filter, subject) && this.opts.capacity() - this.inFlight > 0;
  }

  deliver(m: Msg): void {
    // inFlight covers the gap between delivery and the handler taking a slot.
    this.inFlight++;
    const q = this.q;
    let settled = false;
    const settle = (how: 'ack' | 'nak' | 'term', delay?: number) => {
      if (settled) return;
      settled = true;
      q.settle(m, how, delay);
    };
    const d: Delivery = {
      subject: m.subject, data: m.data, headers: m.headers, deliveryCount: m.deliveries,
      ack: async () => settle('ack'),
      nak: async (delayMs) => settle('nak', delayMs),
      term: async () => settle('term'),
      working: async () => q.extend(m, this.ackWaitMs),
    };
    queueMicrotask(() => {
      void Promise.resolve()
        .then(() => this.opts.onMessage(d))
        .catch(() => undefined)
        .finally(() => { this.inFlight--; q.kick(); });
    });
  }

  wake(): void {
    this.q.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.q.removeConsumer(this);
  }
}

class LocalKv implements KeyValue {
  private entries = new Map<string, { value: Uint8Array; updatedAt: number; timer: NodeJS.Timeout }>();
  private watchers = new Set<(e: KvEntry) => void>();

  constructor(private readonly ttlMs: number) {}

  private emit(e: KvEntry): void {
    for (const w of this.watchers) w(e);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const old = this.entries.get(key);
    if (old) clearTimeout(old.timer);
    const updatedAt = Date.now();
    const timer = setTimeout(() => {
      this.entries.delete(key);
      this.emit({ key, value: new Uint8Array(), updatedAt: Date.now(), operation: 'DEL' });
    }, this.ttlMs);
    timer.unref();
    this.entries.set(key, { value, updatedAt, timer });
    this.emit({ key, value, updatedAt, operation: 'PUT' });
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const e = this.entries.get(key);
    return e ? { key, value: e.value, updatedAt: e.updatedAt, operation: 'PUT' } : undefined;
  }

  async delete(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (!e) return;
    clearTimeout(e.timer);
    this.entries.delete(key);
    this.emit({ key, value: new Uint8Array(), updatedAt: Date.now(), operation: 'DEL' });
  }

  async keys(): Promise<string[]> {
    return [...this.entries.keys()];
  }

  async watch(handler: (e: KvEntry) => void): Promise<() => void> {
    this.watchers.add(handler);
    return () => this.watchers.delete(handler);
  }

  close(): void {
    for (const e of this.entries.values()) clearTimeout(e.timer);
  }
}

export class LocalBus implements Bus {
  readonly description = 'in-process';
  private queues = new Map<string, LocalQueue>();
  private kvs = new Map<string, LocalKv>();
  private subs = new Map<string, Set<(s: string, d: Uint8Array, h: Headers) => void>>();
  private servers = new Map<string, (d: Uint8Array, h: Headers) => Promise<Uint8Array>>();
  private closed = false;

  async workQueue(name: string, subjects: string[]): Promise<WorkQueue> {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new LocalQueue(name, subjects)));
    return q;
  }

  async kv(bucket: string, opts: { ttlMs: number }): Promise<KeyValue> {
    let kv = this.kvs.get(bucket);
    if (!kv) this.kvs.set(bucket, (kv = new LocalKv(opts.ttlMs)));
    return kv;
  }

  async request(subject: string, data: Uint8Array, opts: { timeoutMs?: number; headers?: Headers } = {}): Promise<Uint8Array> {
    if (this.closed) throw new BusRequestError('the bus is closed', 'closed');
    const h = [...this.servers.entries()].find(([f]) => subjectMatches(f, subject))?.[1];
    if (!h) throw new BusRequestError(`no responders on ${subject}`, 'no_responders');
    const timeoutMs = opts.timeoutMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        h(data, opts.headers ?? {}),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new BusRequestError(`request on ${subject} timed out after ${timeoutMs} ms`, 'timeout')), timeoutMs); }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  async serve(subject: string, handler: (data: Uint8Array, headers: Headers) => Promise<Uint8Array>): Promise<Subscription> {
    this.servers.set(subject, handler);
    return { unsubscribe: async () => { if (this.servers.get(subject) === handler) this.servers.delete(subject); } };
  }

  async publish(subject: string, data: Uint8Array, headers: Headers = {}): Promise<void> {
    for (const [f, set] of this.subs) if (subjectMatches(f, subject)) for (const h of set) queueMicrotask(() => h(subject, data, headers));
  }

  async subscribe(subject: string, handler: (subject: string, data: Uint8Array, headers: Headers) => void): Promise<Subscription> {
    let set = this.subs.get(subject);
    if (!set) this.subs.set(subject, (set = new Set()));
    set.add(handler);
    return { unsubscribe: async () => { set?.delete(handler); } };
  }

  onConnection(): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queues.values()) q.close();
    for (const kv of this.kvs.values()) kv.close();
  }
}
