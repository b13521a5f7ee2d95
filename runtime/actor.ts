// The actor primitive: private state, a mailbox, one message at a time.
// `tell` enqueues; `ask` enqueues and awaits the handler's answer with a timeout.
// A handler that throws fails that one message (its ask rejects); the actor goes on, and
// the coordinator's reconcile sweep re-derives whatever a lost message left undone.
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
          // The asker learns of the failure; the actor goes on with its next message.
          env.reject?.(err);
          if (!env.reject) log.error('actor handler failed', { actor: this.name, err });
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
