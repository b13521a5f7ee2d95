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
}

export class Dispatcher {
  private queue = new Map<number, QueuedTask>();
  private pumping = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Why the head of the queue is waiting, for status displays. */
  lastWait = '';
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
        this.lastWait = nodes.length ? 'every node is full' : 'no agent-node is registered';
        for (const rest of ordered) this.why.set(rest.taskId, this.lastWait);
        break;
      }
      const p = place(nodes, t);
      if (p.node === undefined) { this.lastWait = `task ${t.taskId}: ${p.why}`; this.why.set(t.taskId, p.why); continue; }
      this.queue.delete(t.taskId);
      this.why.delete(t.taskId);
      try {
        await this.deps.dispatch(t.taskId, p.node);
      } catch (err) {
        // The task actor refused (e.g. the task was closed meanwhile): nothing to retry.
        log.warn('dispatch refused', { task: t.taskId, node: p.node, err });
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
