// Waiting for a condition (never a fixed sleep standing in for one).

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

/** Thrown by a condition that can no longer come true (a task that failed): waitFor rethrows it at once. */
export class StopWaiting extends Error {
  override name = 'StopWaiting';
}

/**
 * Resolve with the first truthy value of cond(); reject after timeoutMs naming what was
 * awaited. An error cond() throws is retried (the thing may not be up yet), except a
 * StopWaiting or a process that exited, which end the wait at once.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: WaitOptions | number = {}): Promise<NonNullable<T>> {
  const o: WaitOptions = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const timeout = o.timeoutMs ?? 10_000;
  const interval = o.intervalMs ?? 50;
  const end = Date.now() + timeout;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
      if (err instanceof StopWaiting) throw err;
      if (err instanceof Error && /exited/.test(err.message)) throw err; // a dead process will not recover
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${o.what ?? 'a condition'}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
