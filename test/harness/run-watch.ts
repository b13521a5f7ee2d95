// Watches the run records of the test's command agents (see instantAgent) and the
// liveness of their processes, so a run killed without an end record counts as
// running until its process is gone, and one that is still alive counts as running.
import { existsSync, readFileSync } from 'node:fs';
import { buildRuns, parseRecords, type Run } from '../chaos/overlap.js';

/** starttime (field 22 of /proc/PID/stat), or undefined when the process is gone or a zombie. */
function procStart(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return f[0] === 'Z' || f[0] === 'X' ? undefined : f[19];
  } catch {
    return undefined;
  }
}

export class RunWatch {
  private readonly gone = new Map<number, number>();
  private readonly identity = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly file: string, private readonly intervalMs = 100) {}

  start(): this {
    this.timer ??= setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Look at every run without an end record: is its process still there (the same process)? */
  tick(): void {
    const now = Date.now();
    for (const r of buildRuns(this.records(), this.gone)) {
      if (r.how !== 'running') continue;
      const st = procStart(r.pid);
      const known = this.identity.get(r.pid);
      if (st !== undefined && known === undefined) this.identity.set(r.pid, st);
      if (st === undefined || (known !== undefined && st !== known)) this.gone.set(r.pid, now);
    }
  }

  private records() {
    return existsSync(this.file) ? parseRecords(readFileSync(this.file, 'utf8')) : [];
  }

  /** Every run so far, with fresh liveness. */
  runs(): Run[] {
    this.tick();
    return buildRuns(this.records(), this.gone);
  }

  /** Runs whose process is still alive and has not recorded its end. */
  running(): Run[] {
    return this.runs().filter((r) => r.how === 'running');
  }
}
