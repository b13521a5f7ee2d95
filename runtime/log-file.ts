// A process's log file under $ORCH_HOME/logs/: the JSON lines the logger writes, rotated
// by size (NAME.log, NAME.log.1 … NAME.log.KEEP), so `orch log` can read the coordinator's
// log from any machine and a long-running coordinator never fills the disk.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { addLogSink } from './log.js';

export interface LogFileOptions {
  /** Rotate when the file would grow past this many bytes (default 10 MiB). */
  maxBytes?: number;
  /** Rotated files kept besides the current one (default 5). */
  keep?: number;
}

const DEFAULTS = { maxBytes: 10 * 1024 * 1024, keep: 5 };

export class RotatingLogFile {
  private fd: number;
  private size: number;
  readonly maxBytes: number;
  readonly keep: number;

  constructor(readonly path: string, o: LogFileOptions = {}) {
    this.maxBytes = o.maxBytes ?? DEFAULTS.maxBytes;
    this.keep = Math.max(1, o.keep ?? DEFAULTS.keep);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  write(line: string): void {
    const buf = Buffer.from(line);
    if (this.size > 0 && this.size + buf.length > this.maxBytes) this.rotate();
    writeSync(this.fd, buf);
    this.size += buf.length;
  }

  /** NAME.log -> NAME.log.1 -> … -> NAME.log.KEEP (the oldest dropped). */
  private rotate(): void {
    closeSync(this.fd);
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = 0;
  }

  close(): void {
    try { closeSync(this.fd); } catch { /* closed already */ }
  }
}

/** Send this process's log records to a rotating file as well; returns a stop function. */
export function logToRotatingFile(path: string, o: LogFileOptions = {}): () => void {
  const file = new RotatingLogFile(path, o);
  const remove = addLogSink(file);
  return () => { remove(); file.close(); };
}

/** The last `n` lines of a rotated log (reading older files only as far as needed), oldest first. */
export function tailLog(path: string, n: number, keep = DEFAULTS.keep): string[] {
  const out: string[] = [];
  for (let i = 0; i <= keep && out.length < n; i++) {
    const f = i === 0 ? path : `${path}.${i}`;
    if (!existsSync(f)) { if (i === 0) continue; break; }
    const lines = readFileSync(f, 'utf8').split('\n').filter(Boolean);
    out.unshift(...lines.slice(Math.max(0, lines.length - (n - out.length))));
  }
  return out;
}
