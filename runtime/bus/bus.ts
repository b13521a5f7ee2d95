// The bus: how the coordinator and agent-nodes exchange work and liveness.
// Two implementations share this contract: LocalBus (in-process, the embedded
// default) and NatsBus (JetStream work queue + KV + request/reply, fleet mode).
// Shapes follow JetStream so the local one cannot promise what NATS cannot keep.

export type Headers = Record<string, string>;

/** One delivery of a work-queue message. Exactly one of ack/nak/term settles it. */
export interface Delivery {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  /** 1 on the first delivery, 2 after one redelivery, ... */
  readonly deliveryCount: number;
  /** Done with it: the message leaves the queue. */
  ack(): Promise<void>;
  /** Give it back; it is delivered again (to any consumer of its subject) after delayMs. */
  nak(delayMs?: number): Promise<void>;
  /** Never deliver again. */
  term(reason?: string): Promise<void>;
  /** Still working on it: extends the ack deadline. */
  working(): Promise<void>;
}

export interface ConsumeOptions {
  /** Durable consumer name; a restarted consumer with the same name resumes. */
  durable: string;
  /** Subject filter within the queue (may end in `>` or contain `*`). */
  filter: string;
  /** Pull only while this returns > 0 (free slots); consulted before every pull. */
  capacity: () => number;
  /** Unacked deliveries are redelivered after this long (default 30 s). */
  ackWaitMs?: number;
  /** After this many deliveries the message is terminated and `onExhausted` runs (default 5). */
  maxDeliver?: number;
  onMessage: (d: Delivery) => void | Promise<void>;
}

export interface Consumer {
  /** Call when capacity() rose again so the consumer pulls without waiting for its next poll. */
  wake(): void;
  stop(): Promise<void>;
}

/** A durable work queue (JetStream stream with work-queue retention). */
export interface WorkQueue {
  readonly name: string;
  /** Queue a message. A repeated msgId within the dedupe window is dropped (idempotent publish). */
  publish(subject: string, data: Uint8Array, opts?: { msgId?: string; headers?: Headers }): Promise<void>;
  consume(opts: ConsumeOptions): Promise<Consumer>;
  /** Messages that ran out of deliveries: the handler must mark whatever they carried. */
  onExhausted(handler: (subject: string, data: Uint8Array, headers: Headers) => void | Promise<void>): void;
  /** Remove every queued message on a subject (e.g. a lost node's assignments). */
  purge(subject: string): Promise<number>;
}

export interface KvEntry {
  key: string;
  value: Uint8Array;
  /** Milliseconds since epoch of the last put. */
  updatedAt: number;
  operation: 'PUT' | 'DEL';
}

/** A key-value bucket whose entries expire ttlMs after their last put. */
export interface KeyValue {
  put(key: string, value: Uint8Array): Promise<void>;
  get(key: string): Promise<KvEntry | undefined>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
  /** Called for every put/delete (expiry shows as a DEL, possibly late); returns a stop function. */
  watch(handler: (e: KvEntry) => void): Promise<() => void>;
}

export interface Subscription {
  unsubscribe(): Promise<void>;
}

export class BusRequestError extends Error {
  constructor(
    message: string,
    readonly code: 'timeout' | 'no_responders' | 'closed',
  ) {
    super(message);
    this.name = 'BusRequestError';
  }
}

export interface Bus {
  /** `in-process` or the server URL without credentials, for status displays. */
  readonly description: string;
  workQueue(name: string, subjects: string[]): Promise<WorkQueue>;
  kv(bucket: string, opts: { ttlMs: number }): Promise<KeyValue>;
  /** Request/reply (per-node control such as kill). Rejects with BusRequestError. */
  request(subject: string, data: Uint8Array, opts?: { timeoutMs?: number; headers?: Headers }): Promise<Uint8Array>;
  /** Answer requests on a subject; a thrown error becomes an error reply. */
  serve(subject: string, handler: (data: Uint8Array, headers: Headers) => Promise<Uint8Array>): Promise<Subscription>;
  /** Fire-and-forget events (at most once). */
  publish(subject: string, data: Uint8Array, headers?: Headers): Promise<void>;
  subscribe(subject: string, handler: (subject: string, data: Uint8Array, headers: Headers) => void): Promise<Subscription>;
  /**
   * Connection changes of this process's link to the bus ('disconnected' / 'reconnected');
   * the in-process bus never has any. Returns a stop function.
   */
  onConnection(handler: (state: 'disconnected' | 'reconnected') => void): () => void;
  close(): Promise<void>;
}
