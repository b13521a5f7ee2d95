// The chaos report: one row per fault, and whether the run as a whole passed. Pure.

export interface ChaosRow {
  fault: string;
  tasks: number;
  done: number;
  /** Not done at the end (stuck in any other state, or never finished). */
  lost: number;
  /** Tasks with two runs of the agent at the same time (from the agents' own records). */
  runTwice: number;
  /** Branch updates on the origin by attempts other than the one that succeeded. */
  otherPushes: number;
  /** Done tasks whose branch on the origin is not the succeeded attempt's commit (missing, or moved by another attempt's push). */
  moved: number;
  /** Fault injected -> first task done whose agent run started after the fault was over (includes that run), ms. */
  recoveryMs?: number;
  /** The scenario could not be run or measured (the fleet did not start, a fault could not be injected). */
  error?: string;
  /** What was done, for the notes under the table. */
  note?: string;
}

export function rowFailed(r: ChaosRow): boolean {
  return !!r.error || r.lost > 0 || r.runTwice > 0 || r.moved > 0;
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

const HEADERS = ['fault', 'tasks', 'done', 'lost', 'run twice', 'other-attempt pushes', 'branch wrong', 'recovery', 'verdict'];

export function formatTable(rows: ChaosRow[]): string {
  const cells = rows.map((r) => [
    r.fault, String(r.tasks), String(r.done), String(r.lost), String(r.runTwice), String(r.otherPushes), String(r.moved),
    formatDuration(r.recoveryMs), r.error ? `ERROR: ${r.error}` : rowFailed(r) ? 'FAIL' : 'ok',
  ]);
  const all = [HEADERS, ...cells];
  // The last column (verdict, maybe a long error) is not padded.
  const widths = HEADERS.map((_, i) => Math.max(...all.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]))).join(' | ').trimEnd();
  return [line(HEADERS), widths.map((w, i) => '-'.repeat(i === widths.length - 1 ? HEADERS[i].length : w)).join('-|-'), ...cells.map(line)].join('\n') + '\n';
}

/** The exit code of the whole run: 0 only when every row passed (and there was at least one). */
export function exitCode(rows: ChaosRow[]): number {
  return rows.length > 0 && rows.every((r) => !rowFailed(r)) ? 0 : 1;
}
