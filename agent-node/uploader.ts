// OutputUploader: tails an attempt's output.log and uploads it to the coordinator as
// numbered chunks with byte offsets. Secrets are redacted line by line before they
// leave the node, so offsets count redacted bytes; progress (raw bytes read, bytes
// the coordinator confirmed) is persisted so a restarted node resumes without loss
// or doubling.
import { status } from '@grpc/grpc-js';
import { existsSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { OutputChunk } from '../proto/gen/orch/v1/node.js';
import { logger } from '../runtime/log.js';
import { longestSecret, redact } from '../runtime/redact.js';

const log = logger('uploader');
const CHUNK = 64 * 1024;

export interface UploaderOptions {
  file: string;
  stateFile: string;
  taskId: number;
  attempt: number;
  token: string;
  /** Upload chunks in order; resolves with the offset the coordinator now holds. */
  send(chunks: OutputChunk[]): Promise<number>;
}

interface Progress { raw: number; sent: number; seq: number }


/**
 * Where to cut a line too long to wait for its end: never inside a UTF-8 sequence, and far
 * enough from the end that a secret straddling the cut is redacted whole in the next round.
 */
export function safeCut(buf: Buffer, keepBack: number): number {
  const max = Math.max(0, buf.length - keepBack);
  // Just after a separator no secret contains (space, tab, CR, quotes, comma, semicolon): ASCII, so never inside a character.
  for (let i = max - 1; i >= 0; i--) {
    const c = buf[i];
    if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x22 || c === 0x27 || c === 0x2c || c === 0x3b) return i + 1;
  }
  // One unbroken word of this size: at least never split a character (continuation bytes are 10xxxxxx).
  let cut = max;
  while (cut > 0 && (buf[cut] & 0xc0) === 0x80) cut--;
  return cut;
}

export class OutputUploader {
  private p: Progress;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  private pending = false;
  private stopped = false;
  /** The coordinator refused this attempt's output: it was superseded, stop sending. */
  private refused = false;

  constructor(private readonly o: UploaderOptions) {
    this.p = existsSync(o.stateFile) ? JSON.parse(readFileSync(o.stateFile, 'utf8')) as Progress : { raw: 0, sent: 0, seq: 0 };
  }

  start(): void {
    try {
      this.watcher = watch(dirname(this.o.file), (_e, name) => {
        if (name === basename(this.o.file)) this.kick();
      });
    } catch (err) {
      log.warn('cannot watch output; relying on the periodic flush', { err });
    }
    // A safety net for missed fs events and for retrying after a failed upload.
    this.timer = setInterval(() => this.kick(), 1_000);
    this.timer.unref();
    this.kick();
  }

  private kick(): void {
    if (this.stopped || this.pending) return;
    this.pending = true;
    this.busy = this.busy.then(async () => {
      this.pending = false;
      await this.flush(false).catch((err) => this.failed(err));
    });
  }

  private failed(err: unknown): void {
    // FAILED_PRECONDITION: the coordinator refuses this attempt's output (it was superseded).
    if ((err as { code?: number }).code === status.FAILED_PRECONDITION) {
      this.refused = true;
      this.stop();
      log.warn('coordinator refuses this attempt\'s output; it stays in output.log on the node', { task: this.o.taskId, attempt: this.o.attempt, reason: (err as Error).message });
      return;
    }
    log.debug('upload deferred', { task: this.o.taskId, err });
  }

  /** Upload what is there; with final, also a last line without a newline. */
  async flush(final: boolean): Promise<void> {
    for (;;) {
      const size = existsSync(this.o.file) ? (await stat(this.o.file)).size : 0;
      if (size <= this.p.raw) return;
      const fh = await open(this.o.file, 'r');
      let buf: Buffer;
      try {
        const len = Math.min(size - this.p.raw, 4 * CHUNK);
        buf = Buffer.alloc(len);
        await fh.read(buf, 0, len, this.p.raw);
      } finally {
        await fh.close();
      }
      let take = buf.length;
      const lastNl = buf.lastIndexOf(0x0a);
      if (lastNl >= 0) take = lastNl + 1;
      else if (!final && buf.length < 4 * CHUNK) return; // wait for the line to finish
      // A line longer than we read at once: send its head, cut where no character or secret is split.
      else if (!final || size > this.p.raw + buf.length) take = safeCut(buf, longestSecret() + 64) || buf.length;
      const text = redact(buf.subarray(0, take).toString('utf8'));
      const out = Buffer.from(text, 'utf8');
      const chunks: OutputChunk[] = [];
      for (let i = 0; i < out.length; i += CHUNK) {
        const data = out.subarray(i, i + CHUNK);
        chunks.push({ taskId: this.o.taskId, attempt: this.o.attempt, token: this.o.token, seq: ++this.p.seq, offset: this.p.sent + i, data });
      }
      const held = await this.o.send(chunks);
      const want = this.p.sent + out.length;
      if (held === want) {
        this.p = { raw: this.p.raw + take, sent: want, seq: this.p.seq };
      } else if (held < this.p.sent) {
        log.warn('coordinator holds less output than confirmed; replaying from the start', { task: this.o.taskId, held, sent: this.p.sent });
        this.p = { raw: 0, sent: 0, seq: this.p.seq };
      } else {
        return; // partial take: the next flush resends the batch; the coordinator skips what it holds
      }
      writeFileSync(this.o.stateFile, JSON.stringify(this.p));
      if (this.p.raw >= size) return;
    }
  }

  /** Stop tailing after a final flush (retried until the coordinator confirms or the deadline passes). */
  async finish(deadlineMs = 30_000): Promise<boolean> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    await this.busy;
    const end = Date.now() + deadlineMs;
    for (let i = 1; ; i++) {
      if (this.refused) return false;
      try {
        await this.flush(true);
        return true;
      } catch (err) {
        this.failed(err);
        if (this.refused) return false;
        if (Date.now() > end) {
          log.warn('final output upload failed; the rest stays in output.log on the node', { task: this.o.taskId, err });
          return false;
        }
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * i)));
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }
}
