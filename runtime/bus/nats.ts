// NatsBus: the bus contract on nats-server (fleet mode). Work queue = a JetStream
// stream with work-queue retention and one durable pull consumer per node subject;
// a node fetches only as many messages as it has free slots. Exhausted messages
// (max_deliver reached) are reported by JetStream advisories to whoever registered
// onExhausted (the coordinator), which marks the task and deletes the message.
// Heartbeats live in a KV bucket with a TTL. Control is plain request/reply.
import {
  AckPolicy, connect, credsAuthenticator, DeliverPolicy, headers as natsHeaders, nanos, RetentionPolicy, StorageType,
  type JetStreamClient, type JetStreamManager, type JsMsg, type KV, type MsgHdrs, type NatsConnection,
} from 'nats';
import { readFileSync } from 'node:fs';
import { logger } from '../log.js';
import { BusRequestError, type Bus, type Consumer, type ConsumeOptions, type Delivery, type Headers, type KeyValue, type KvEntry, type Subscription, type WorkQueue } from './bus.js';

const log = logger('nats');
const ERROR_HEADER = 'Orch-Error';

export interface NatsBusOptions {
  url: string;
  token?: string;
  user?: string;
  password?: string;
  credsFile?: string;
  /** CA file that signed the NATS server's certificate (a private CA). TLS itself is used whenever the server requires it. */
  tlsCa?: string;
  name?: string;
}

function toHeaders(h: MsgHdrs | undefined): Headers {
  const out: Headers = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

function fromHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (!h || !Object.keys(h).length) return undefined;
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The URL without credentials, for logs and status. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url.includes('://') ? url : `nats://${url}`);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'nats';
  }
}

class NatsQueue implements WorkQueue {
  private exhaustedHandlers: Array<(s: string, d: Uint8Array, h: Headers) => void | Promise<void>> = [];
  private advisorySub = false;

  constructor(readonly name: string, private readonly bus: NatsBus) {}

  async publish(subject: string, data: Uint8Array, opts: { msgId?: string; headers?: Headers } = {}): Promise<void> {
    // Retried through a server restart: the msgId makes a repeat harmless.
    let delay = 100;
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        await this.bus.js.publish(subject, data, { msgID: opts.msgId, headers: fromHeaders(opts.headers), timeout: 5_000 });
        return;
      } catch (err) {
        if (Date.now() > deadline || this.bus.closed) throw err;
        log.warn('publish failed; retrying', { subject, err: (err as Error).message });
        await sleep(delay);
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }

  async consume(opts: ConsumeOptions): Promise<Consumer> {
    const config = {
      durable_name: opts.durable, filter_subject: opts.filter, ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(opts.ackWaitMs ?? 30_000), max_deliver: opts.maxDeliver ?? 5, deliver_policy: DeliverPolicy.All,
    };
    try {
      await this.bus.jsm.consumers.add(this.name, config);
    } catch (err) {
      if (!/already exists|in use/i.test((err as Error).message)) throw err;
      await this.bus.jsm.consumers.update(this.name, opts.durable, { ack_wait: config.ack_wait, max_deliver: config.max_deliver });
    }
    const c = new NatsConsumer(this.bus, this.name, opts);
    c.run();
    return c;
  }

  onExhausted(handler: (s: string, d: Uint8Array, h: Headers) => void | Promise<void>): void {
    this.exhaustedHandlers.push(handler);
    if (this.advisorySub) return;
    this.advisorySub = true;
    this.bus.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.name}.*`, {
      callback: (err, msg) => {
        if (err) return;
        void (async () => {
          const adv = JSON.parse(Buffer.from(msg.data).toString('utf8')) as { stream_seq: number; consumer: string; deliveries: number };
          const sm = await this.bus.jsm.streams.getMessage(this.name, { seq: adv.stream_seq });
          log.warn('assignment ran out of deliveries', { consumer: adv.consumer, seq: adv.stream_seq, deliveries: adv.deliveries });
          for (const h of this.exhaustedHandlers) await h(sm.subject, sm.data, toHeaders(sm.header));
          await this.bus.jsm.streams.deleteMessage(this.name, adv.stream_seq, false);
        })().catch((e) => log.error('could not handle an exhausted assignment', { err: e }));
      },
    });
  }

  async purge(subject: string): Promise<number> {
    const r = await this.bus.jsm.streams.purge(this.name, { filter: subject });
    return r.purged;
  }
}

class NatsConsumer implements Consumer {
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private inFlight = 0;

  constructor(private readonly bus: NatsBus, private readonly stream: string, private readonly opts: ConsumeOptions) {}

  run(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    while (!this.stopped && !this.bus.closed) {
      const free = this.opts.capacity() - this.inFlight;
      if (free <= 0) {
        await new Promise<void>((r) => {
          this.wakeUp = r;
          setTimeout(r, 1_000).unref();
        });
        this.wakeUp = undefined;
        continue;
      }
      try {
        const consumer = await this.bus.js.consumers.get(this.stream, this.opts.durable);
        const iter = await consumer.fetch({ max_messages: free, expires: 5_000 });
        for await (const m of iter) {
          if (this.stopped) {
            m.nak();
            continue;
          }
          this.deliver(m);
        }
        backoff = 100;
      } catch (err) {
        if (this.stopped || this.bus.closed) break;
        log.warn('pull failed; retrying', { consumer: this.opts.durable, err: (err as Error).message });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
  }

  private deliver(m: JsMsg): void {
    this.inFlight++;
    const d: Delivery = {
      subject: m.subject, data: m.data, headers: toHeaders(m.headers), deliveryCount: m.info.redeliveryCount,
      ack: async () => { await m.ackAck({ timeout: 5_000 }).catch(() => m.ack()); },
      nak: async (delayMs) => m.nak(delayMs),
      term: async () => m.term(),
      working: async () => m.working(),
    };
    let p: void | Promise<void> = undefined;
    try {
      p = this.opts.onMessage(d);
    } catch (err) {
      log.error('assignment handler failed', { err });
    }
    // The handler took its slot synchronously (before its first await).
    this.inFlight--;
    void Promise.resolve(p).catch((err) => log.error('assignment handler failed', { err }));
  }

  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    // A pending fetch ends by its own expiry; do not wait for it.
  }
}

class NatsKv implements KeyValue {
  private stopped = false;
  constructor(private readonly kv: KV, private readonly bus: NatsBus) {}

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.kv.put(key, value);
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return undefined;
    return { key, value: e.value, updatedAt: e.created.getTime(), operation: 'PUT' };
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys()) out.push(k);
    return out;
  }

  async watch(handler: (e: KvEntry) => void): Promise<() => void> {
    let current: { stop(): void } | undefined;
    let generation = 0;
    const start = async (): Promise<void> => {
      const mine = ++generation;
      current?.stop();
      const it = await this.kv.watch();
      current = it;
      void (async () => {
        try {
          for await (const e of it) {
            handler({ key: e.key, value: e.value, updatedAt: e.created.getTime(), operation: e.operation === 'PUT' ? 'PUT' : 'DEL' });
          }
        } catch (err) {
          log.warn('kv watch ended', { err: (err as Error).message });
        }
        // Ended without stop() and not replaced: the connection broke; watch again once it is back.
        while (!this.stopped && mine === generation) {
          await sleep(500);
          try {
            await start();
            return;
          } catch {
            // keep trying
          }
        }
      })();
    };
    await start();
    // After a reconnect the old watcher may sit silent until its own heartbeat check notices;
    // a fresh one sees the heartbeats at once (it replays the last value of every key).
    const unlisten = this.bus.onConnection((state) => {
      if (state === 'reconnected' && !this.stopped) void start().catch((err) => log.warn('kv watch restart failed', { err: (err as Error).message }));
    });
    return () => {
      this.stopped = true;
      unlisten();
      current?.stop();
    };
  }
}

export class NatsBus implements Bus {
  readonly description: string;
  closed = false;
  private readonly listeners = new Set<(state: 'disconnected' | 'reconnected') => void>();

  onConnection(handler: (state: 'disconnected' | 'reconnected') => void): () => void {
    this.listeners.add(handler);
    return () => this.listeners.delete(handler);
  }
  private constructor(readonly nc: NatsConnection, readonly js: JetStreamClient, readonly jsm: JetStreamManager, url: string) {
    this.description = describeUrl(url);
  }

  static async connect(o: NatsBusOptions): Promise<NatsBus> {
    // Unreachable servers are retried forever (a node may start before NATS does); say so meanwhile.
    const since = Date.now();
    const waiting = setInterval(() => log.warn(`still waiting for NATS at ${describeUrl(o.url)}`, { seconds: Math.round((Date.now() - since) / 1000) }), 5_000);
    const nc = await connect({
      servers: o.url,
      name: o.name,
      token: o.token,
      user: o.user,
      pass: o.password,
      authenticator: o.credsFile ? credsAuthenticator(readFileSync(o.credsFile)) : undefined,
      tls: o.tlsCa ? { caFile: o.tlsCa } : undefined,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      waitOnFirstConnect: true,
    }).catch((err: Error) => {
      throw new Error(`cannot connect to NATS at ${describeUrl(o.url)}: ${err.message}`);
    }).finally(() => clearInterval(waiting));
    const jsm = await nc.jetstreamManager({ timeout: 10_000 }).catch((err: Error) => {
      throw new Error(`NATS at ${describeUrl(o.url)} has no JetStream (start nats-server with -js): ${err.message}`);
    });
    const bus = new NatsBus(nc, nc.jetstream({ timeout: 10_000 }), jsm, o.url);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') {
          log.warn(`nats ${s.type}`, { server: String(s.data) });
          for (const l of bus.listeners) l(s.type === 'disconnect' ? 'disconnected' : 'reconnected');
        }
      }
    })();
    return bus;
  }

  async workQueue(name: string, subjects: string[]): Promise<WorkQueue> {
    try {
      await this.jsm.streams.info(name);
    } catch {
      try {
        await this.jsm.streams.add({
          name, subjects, retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: nanos(120_000),
        });
      } catch (err) {
        // Another process created it meanwhile.
        await this.jsm.streams.info(name).catch(() => { throw err; });
      }
    }
    return new NatsQueue(name, this);
  }

  async kv(bucket: string, opts: { ttlMs: number }): Promise<KeyValue> {
    const kv = await this.js.views.kv(bucket, { ttl: opts.ttlMs, history: 1 });
    return new NatsKv(kv, this);
  }

  async request(subject: string, data: Uint8Array, opts: { timeoutMs?: number; headers?: Headers } = {}): Promise<Uint8Array> {
    if (this.closed) throw new BusRequestError('the bus is closed', 'closed');
    try {
      const m = await this.nc.request(subject, data, { timeout: opts.timeoutMs ?? 5_000, headers: fromHeaders(opts.headers) });
      const e = m.headers?.get(ERROR_HEADER);
      if (e) throw new Error(e);
      return m.data;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '503') throw new BusRequestError(`no responders on ${subject}`, 'no_responders');
      if (code === 'TIMEOUT') throw new BusRequestError(`request on ${subject} timed out`, 'timeout');
      throw err;
    }
  }

  async serve(subject: string, handler: (data: Uint8Array, headers: Headers) => Promise<Uint8Array>): Promise<Subscription> {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        void handler(msg.data, toHeaders(msg.headers)).then(
          (out) => msg.respond(out),
          (e: Error) => {
            const h = natsHeaders();
            h.set(ERROR_HEADER, e.message.replace(/[\r\n]+/g, ' ').slice(0, 500));
            msg.respond(new Uint8Array(), { headers: h });
          },
        );
      },
    });
    return { unsubscribe: async () => sub.unsubscribe() };
  }

  async publish(subject: string, data: Uint8Array, headers?: Headers): Promise<void> {
    this.nc.publish(subject, data, { headers: fromHeaders(headers) });
  }

  async subscribe(subject: string, handler: (subject: string, data: Uint8Array, headers: Headers) => void): Promise<Subscription> {
    const sub = this.nc.subscribe(subject, { callback: (err, msg) => { if (!err) handler(msg.subject, msg.data, toHeaders(msg.headers)); } });
    return { unsubscribe: async () => sub.unsubscribe() };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.nc.drain().catch(() => this.nc.close());
  }
}
