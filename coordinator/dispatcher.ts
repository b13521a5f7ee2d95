// Dispatcher: routed tasks wait here, in id order, until placement finds a node
// with room. It pumps on every event that can change the answer (a task routed,
// a node registered or freed a slot, a retry delay ran out), never on a timer.
import { logger } from '../runtime/log.js';
import { place, type NodeSnapshot, type Requirements } from './placement.js';

const log = logger('dispatcher');

export interface QueuedTask extends Requirements {
  taskId: number;
  /** Not before this time (retry backoff), ms since epoch. */
  notBefore: number;
}

export interface DispatcherDeps {
  snapshots(): NodeSnapshot[];
  /** Hand the task to a node; resolves when the attempt exists (slot accounted). */
  dispatch(taskId: number, node: string): Promise<void>;
  /** A refusal (the task changed meanwhile) ends its wait; any other error is retried. */
  isRefusal(err: unknown): boolean;
}

export class Dispatcher {
  private queue = new Map<number, QueuedTask>();
  private pumping = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Failed dispatches in a row per task: the next try backs off (1 s .. 30 s). */
  private failures = new Map<number, number>();
  /** Why each waiting task could not be placed at the last pass (shown by `orch task get`). */
  private why = new Map<number, string>();

  constructor(private readonly deps: DispatcherDeps) {}

  enqueue(t: QueuedTask): void {
    this.queue.set(t.taskId, t);
    this.pump();
  }

  remove(taskId: number): void {
    this.queue.delete(taskId);
    this.why.delete(taskId);
    this.failures.delete(taskId);
  }

  has(taskId: number): boolean {
    return this.queue.has(taskId);
  }

  /** Why a routed task is still waiting, if it is. */
  waiting(taskId: number): string | undefined {
    if (!this.queue.has(taskId)) return undefined;
    const t = this.queue.get(taskId)!;
    if (t.notBefore > Date.now()) return `retry scheduled at ${new Date(t.notBefore).toISOString()}`;
    return this.why.get(taskId) ?? 'waiting for a node';
  }

  get size(): number { return this.queue.size; }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Run a pass now (or right after the current one). */
  pump(): void {
    if (this.stopped) return;
    if (this.pumping) { this.again = true; return; }
    this.pumping = true;
    void this.pass().finally(() => {
      this.pumping = false;
      if (this.again) { this.again = false; this.pump(); }
    });
  }

  private async pass(): Promise<void> {
    const now = Date.now();
    let nextWake = Infinity;
    const ordered = [...this.queue.values()].sort((a, b) => a.taskId - b.taskId);
    for (const t of ordered) {
      if (this.stopped) return;
      if (t.notBefore > now) { nextWake = Math.min(nextWake, t.notBefore); continue; }
      const nodes = this.deps.snapshots();
      if (!nodes.some((n) => n.state === 'up' && n.inFlight < n.slots)) {
        const why = !nodes.length ? 'no agent-node is registered' : nodes.some((n) => n.state === 'up') ? 'every node is full' : 'no node is up';
        for (const rest of ordered) if (!this.why.has(rest.taskId) || rest.notBefore <= now) this.why.set(rest.taskId, why);
        break;
      }
      const p = place(nodes, t);
      if (p.node === undefined) { this.why.set(t.taskId, p.why); continue; }
      this.queue.delete(t.taskId);
      this.why.delete(t.taskId);
      try {
        await this.deps.dispatch(t.taskId, p.node);
        this.failures.delete(t.taskId);
      } catch (err) {
        if (this.deps.isRefusal(err)) {
          // The task changed meanwhile (closed, already dispatched): nothing to retry.
          log.debug('dispatch refused', { task: t.taskId, node: p.node, err });
          this.failures.delete(t.taskId);
          continue;
        }
        // A database blip or a busy actor: the task waits and is tried again, never dropped.
        const n = (this.failures.get(t.taskId) ?? 0) + 1;
        this.failures.set(t.taskId, n);
        const delay = Math.min(30_000, 1_000 * 2 ** (n - 1));
        log.warn('dispatch failed; will try again', { task: t.taskId, node: p.node, inMs: delay, err });
        if (!this.queue.has(t.taskId)) this.queue.set(t.taskId, { ...t, notBefore: Date.now() + delay });
        this.why.set(t.taskId, `dispatch failed (${(err as Error).message}); trying again`);
        nextWake = Math.min(nextWake, Date.now() + delay);
      }
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (nextWake !== Infinity && !this.stopped) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, nextWake - Date.now()));
      this.timer.unref?.();
    }
  }
}
