// The actor primitive: private state, a mailbox, one message at a time.
// `tell` enqueues; `ask` enqueues and awaits the handler's answer with a timeout.
// A Supervisor restarts a crashed actor (from persisted state, via its factory) with backoff.
import { logger } from './log.js';

const log = logger('actor');

export class AskTimeoutError extends Error {
  constructor(actor: string, ms: number) {
    super(`${actor} did not answer within ${ms} ms`);
    this.name = 'AskTimeoutError';
  }
}

export class ActorStoppedError extends Error {
  constructor(actor: string) {
    super(`${actor} is stopped`);
    this.name = 'ActorStoppedError';
  }
}

interface Envelope<M> {
  msg: M;
  resolve?: (v: unknown) => void;
  reject?: (e: unknown) => void;
}

export interface ActorRef<M> {
  readonly name: string;
  tell(msg: M): void;
  ask<R>(msg: M, timeoutMs?: number): Promise<R>;
}

/** Handles one message at a time; what `receive` returns is the answer to an `ask`. */
export abstract class Actor<M> implements ActorRef<M> {
  private mailbox: Envelope<M>[] = [];
  private running = false;
  private stopped = false;
  /** Set by a supervisor: called with the error when receive throws. */
  onCrash?: (err: unknown) => void;

  constructor(readonly name: string) {}

  protected abstract receive(msg: M): Promise<unknown> | unknown;

  tell(msg: M): void {
    if (this.stopped) {
      log.warn('message to stopped actor dropped', { actor: this.name });
      return;
    }
    this.mailbox.push({ msg });
    this.drain();
  }

  ask<R>(msg: M, timeoutMs = 30_000): Promise<R> {
    if (this.stopped) return Promise.reject(new ActorStoppedError(this.name));
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new AskTimeoutError(this.name, timeoutMs)), timeoutMs);
      this.mailbox.push({
        msg,
        resolve: (v) => { clearTimeout(timer); resolve(v as R); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.drain();
    });
  }

  get pending(): number { return this.mailbox.length; }

  /** Stop taking messages; queued asks are rejected. */
  stop(): void {
    this.stopped = true;
    for (const env of this.mailbox.splice(0)) env.reject?.(new ActorStoppedError(this.name));
  }

  get isStopped(): boolean { return this.stopped; }

  private drain(): void {
    if (this.running) return;
    this.running = true;
    void (async () => {
      while (this.mailbox.length > 0 && !this.stopped) {
        const env = this.mailbox.shift()!;
        try {
          const out = await this.receive(env.msg);
          env.resolve?.(out);
        } catch (err) {
          // The asker learns of the failure; the supervisor decides about the actor.
          env.reject?.(err);
          if (this.onCrash) this.onCrash(err);
          else log.error('actor handler failed', { actor: this.name, err });
        }
      }
      this.running = false;
    })();
  }
}

/** Exponential backoff with jitter: the one retry/backoff helper. */
export function backoffMs(attempt: number, baseMs = 100, maxMs = 30_000): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/**
 * Restarts a crashed actor through its factory (which reloads persisted state),
 * after a backoff that grows with consecutive crashes. Messages sent to the ref
 * while the actor restarts are queued, not lost.
 */
export class Supervisor<M> implements ActorRef<M> {
  private current: Actor<M>;
  private crashes = 0;
  private restarting = false;
  private queued: Array<{ msg: M; resolve?: (v: unknown) => void; reject?: (e: unknown) => void; timeoutMs?: number }> = [];
  private stopped = false;

  constructor(readonly name: string, private readonly factory: () => Actor<M>, private readonly maxBackoffMs = 10_000) {
    this.current = this.spawn();
  }

  private spawn(): Actor<M> {
    const a = this.factory();
    a.onCrash = (err) => this.crashed(err);
    return a;
  }

  private crashed(err: unknown): void {
    if (this.restarting || this.stopped) return;
    this.crashes += 1;
    this.restarting = true;
    const delay = backoffMs(this.crashes, 50, this.maxBackoffMs);
    log.warn('actor crashed; restarting', { actor: this.name, err, crashes: this.crashes, delayMs: delay });
    this.current.stop();
    setTimeout(() => {
      if (this.stopped) return;
      this.current = this.spawn();
      this.restarting = false;
      for (const q of this.queued.splice(0)) {
        if (q.resolve) this.current.ask(q.msg, q.timeoutMs).then(q.resolve, q.reject);
        else this.current.tell(q.msg);
      }
    }, delay).unref?.();
  }

  /** Crashes so far. */
  get restarts(): number { return this.crashes; }

  tell(msg: M): void {
    if (this.restarting) this.queued.push({ msg });
    else this.current.tell(msg);
  }

  ask<R>(msg: M, timeoutMs = 30_000): Promise<R> {
    if (this.restarting) {
      return new Promise<R>((resolve, reject) =>
        this.queued.push({ msg, resolve: resolve as (v: unknown) => void, reject, timeoutMs }));
    }
    return this.current.ask<R>(msg, timeoutMs);
  }

  stop(): void {
    this.stopped = true;
    this.current.stop();
    for (const q of this.queued.splice(0)) q.reject?.(new ActorStoppedError(this.name));
  }
}
