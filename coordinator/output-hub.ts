// OutputHub: the coordinator's copy of every attempt's output. Nodes upload numbered
// chunks with byte offsets; the hub appends exactly once (overlap is skipped, a gap
// is refused so the node resends from what we hold) and fans out to `orch stream`.
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutputEvent } from '../proto/gen/orch/v1/coordinator.js';
import type { OrchPaths } from '../runtime/paths.js';

type Listener = (e: OutputEvent) => void;

export class OutputGapError extends Error {
  constructor(readonly expected: number, got: number) {
    super(`output gap: expected offset ${expected}, got ${got}`);
    this.name = 'OutputGapError';
  }
}

export class OutputHub {
  private sizes = new Map<string, number>();
  private chains = new Map<string, Promise<unknown>>();
  private listeners = new Map<number, Set<Listener>>(); // 0 = every task
  /** Latest attempt seen per task, for "from the start" replays. */
  private latest = new Map<number, number>();
  /** Fencing token of each live attempt: output is accepted only with it. */
  private tokens = new Map<string, string>();

  constructor(private readonly paths: OrchPaths) {}

  private key(taskId: number, attempt: number): string { return `${taskId}/${attempt}`; }

  /** Bytes held for an attempt (where the node should resume). */
  size(taskId: number, attempt: number): number {
    const k = this.key(taskId, attempt);
    let s = this.sizes.get(k);
    if (s === undefined) {
      const f = this.paths.outputLog(taskId, attempt);
      s = existsSync(f) ? statSync(f).size : 0;
      this.sizes.set(k, s);
    }
    return s;
  }

  /** Append a chunk at its offset; returns the next offset we expect. Serialised per attempt. */
  append(taskId: number, attempt: number, offset: number, data: Uint8Array): Promise<number> {
    const k = this.key(taskId, attempt);
    const run = (this.chains.get(k) ?? Promise.resolve()).catch(() => undefined).then(async () => {
      const have = this.size(taskId, attempt);
      if (offset > have) throw new OutputGapError(have, offset);
      const skip = have - offset;
      if (skip >= data.length) return have; // a resend of bytes we hold
      const fresh = data.subarray(skip);
      const file = this.paths.outputLog(taskId, attempt);
      mkdirSync(dirname(file), { recursive: true });
      const fh = await open(file, 'a');
      try { await fh.write(fresh); } finally { await fh.close(); }
      this.sizes.set(k, have + fresh.length);
      if ((this.latest.get(taskId) ?? 0) < attempt) this.latest.set(taskId, attempt);
      this.emit({ taskId, attempt, offset: have, data: Buffer.from(fresh), end: false });
      return have + fresh.length;
    });
    this.chains.set(k, run);
    return run;
  }

  /** Why output for this attempt under this token is refused, or undefined when it is taken. */
  refuses(taskId: number, attempt: number, token: string): string | undefined {
    const want = this.tokens.get(this.key(taskId, attempt));
    if (want === undefined) return `attempt ${attempt} of task ${taskId} is not running: its output is closed`;
    if (want !== token) return `attempt ${attempt} of task ${taskId}: stale fencing token, output refused`;
    return undefined;
  }

  /** The attempt is over: followers of it are told so, and no more output is taken. */
  finish(taskId: number, attempt: number): void {
    const k = this.key(taskId, attempt);
    this.tokens.delete(k);
    void (this.chains.get(k) ?? Promise.resolve()).catch(() => undefined).then(() => {
      this.emit({ taskId, attempt, offset: this.size(taskId, attempt), data: Buffer.alloc(0), end: true });
    });
  }

  private emit(e: OutputEvent): void {
    for (const l of this.listeners.get(e.taskId) ?? []) l(e);
    for (const l of this.listeners.get(0) ?? []) l(e);
  }

  subscribe(taskId: number, l: Listener): () => void {
    let set = this.listeners.get(taskId);
    if (!set) this.listeners.set(taskId, (set = new Set()));
    set.add(l);
    return () => { set!.delete(l); };
  }

  /** Replay an attempt's bytes [0, upTo) in chunks. */
  async replay(taskId: number, attempt: number, upTo: number, l: Listener): Promise<void> {
    const file = this.paths.outputLog(taskId, attempt);
    if (upTo === 0 || !existsSync(file)) return;
    let offset = 0;
    for await (const chunk of createReadStream(file, { start: 0, end: upTo - 1, highWaterMark: 64 * 1024 })) {
      const buf = chunk as Buffer;
      l({ taskId, attempt, offset, data: buf, end: false });
      offset += buf.length;
    }
  }

  /** When the coordinator last took output of an attempt (undefined: none yet). */
  lastOutputAt(taskId: number, attempt: number): Date | undefined {
    const f = this.paths.outputLog(taskId, attempt);
    return existsSync(f) ? statSync(f).mtime : undefined;
  }

  /** A live attempt: its output is taken under `token`. */
  noteAttempt(taskId: number, attempt: number, token: string): void {
    this.tokens.set(this.key(taskId, attempt), token);
    if ((this.latest.get(taskId) ?? 0) < attempt) this.latest.set(taskId, attempt);
  }
}
