// Runs of the command agent, from its own records, and which of them ran at the same
// time as another run of the same task. Pure: the caller supplies when it saw each
// process gone (a run killed without an end record counts as running until then).

export interface RunRecord {
  node: string;
  task: number;
  attempt: number;
  kind: 'start' | 'end';
  /** Wall clock, ms (from the agent's `date +%s%N`). */
  at: number;
  pid: number;
}

export interface Run {
  node: string;
  task: number;
  attempt: number;
  pid: number;
  start: number;
  /** End record, else when its process was seen gone, else Infinity (still running). */
  end: number;
  how: 'ended' | 'gone' | 'running';
}

/** Parse `NODE TASK ATTEMPT start|end NS PID` lines; a torn or foreign line is skipped. */
export function parseRecords(text: string): RunRecord[] {
  const out: RunRecord[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 6 || (f[3] !== 'start' && f[3] !== 'end')) continue;
    const [node, task, attempt, kind, ns, pid] = f;
    if (!/^\d+$/.test(task) || !/^\d+$/.test(attempt) || !/^\d{10,}$/.test(ns) || !/^\d+$/.test(pid)) continue;
    out.push({ node, task: Number(task), attempt: Number(attempt), kind: kind as RunRecord['kind'], at: Number(BigInt(ns) / 1000n) / 1000, pid: Number(pid) });
  }
  return out;
}

/** A run is one agent process: its start record, its end record (same task, attempt and PID) if any. */
export function buildRuns(records: RunRecord[], goneAt: ReadonlyMap<number, number> = new Map()): Run[] {
  const runs: Run[] = [];
  const open = new Map<string, Run>();
  const key = (r: RunRecord) => `${r.task}/${r.attempt}/${r.pid}`;
  for (const r of records) {
    if (r.kind === 'start') {
      const run: Run = { node: r.node, task: r.task, attempt: r.attempt, pid: r.pid, start: r.at, end: Infinity, how: 'running' };
      runs.push(run);
      open.set(key(r), run);
    } else {
      const run = open.get(key(r));
      if (!run) continue;
      run.end = r.at;
      run.how = 'ended';
      open.delete(key(r));
    }
  }
  for (const run of open.values()) {
    const gone = goneAt.get(run.pid);
    if (gone !== undefined && gone >= run.start) {
      run.end = gone;
      run.how = 'gone';
    }
  }
  return runs;
}

/** Pairs of runs of the same task (different processes) whose [start, end) intervals intersect. */
export function concurrentRuns(runs: Run[]): Array<[Run, Run]> {
  const byTask = new Map<number, Run[]>();
  for (const r of runs) byTask.set(r.task, [...(byTask.get(r.task) ?? []), r]);
  const pairs: Array<[Run, Run]> = [];
  for (const list of byTask.values()) {
    const s = [...list].sort((a, b) => a.start - b.start);
    for (let i = 0; i < s.length; i++) {
      for (let j = i + 1; j < s.length && s[j].start < s[i].end; j++) pairs.push([s[i], s[j]]);
    }
  }
  return pairs;
}

/** Tasks that ran twice at the same time. */
export function tasksRunTwice(runs: Run[]): number[] {
  return [...new Set(concurrentRuns(runs).map(([a]) => a.task))].sort((a, b) => a - b);
}

export function describeRun(r: Run): string {
  const end = r.how === 'ended' ? `ended ${iso(r.end)}` : r.how === 'gone' ? `process gone by ${iso(r.end)} without an end record` : 'still running';
  return `task ${r.task} attempt ${r.attempt} on ${r.node} (pid ${r.pid}): started ${iso(r.start)}, ${end}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}
