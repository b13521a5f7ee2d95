import { describe, expect, it } from 'vitest';
import { buildRuns, concurrentRuns, parseRecords, tasksRunTwice } from '../chaos/overlap.js';

// Records as the agent writes them: NODE TASK ATTEMPT start|end NANOSECONDS PID.
const ns = (ms: number) => String(BigInt(1_700_000_000_000 + ms) * 1_000_000n);
const rec = (node: string, task: number, attempt: number, kind: string, ms: number, pid: number) => `${node} ${task} ${attempt} ${kind} ${ns(ms)} ${pid}`;
const at = (ms: number) => 1_700_000_000_000 + ms;

describe('chaos run records', () => {
  it('parses records and skips torn or foreign lines', () => {
    const text = [rec('n1', 1, 1, 'start', 0, 10), 'garbage', rec('n1', 1, 1, 'end', 500, 10), 'n2 2 1 start 17000', ''].join('\n');
    expect(parseRecords(text)).toEqual([
      { node: 'n1', task: 1, attempt: 1, kind: 'start', at: at(0), pid: 10 },
      { node: 'n1', task: 1, attempt: 1, kind: 'end', at: at(500), pid: 10 },
    ]);
  });

  it.each([
    // [what, records, gone pids, tasks run twice]
    ['sequential attempts', [rec('n1', 1, 1, 'start', 0, 10), rec('n1', 1, 1, 'end', 100, 10), rec('n2', 1, 2, 'start', 200, 11), rec('n2', 1, 2, 'end', 300, 11)], {}, []],
    ['overlapping attempts on two nodes', [rec('n1', 1, 1, 'start', 0, 10), rec('n2', 1, 2, 'start', 50, 11), rec('n1', 1, 1, 'end', 100, 10), rec('n2', 1, 2, 'end', 300, 11)], {}, [1]],
    ['a killed run (no end) whose process is still alive', [rec('n1', 1, 1, 'start', 0, 10), rec('n2', 1, 2, 'start', 5_000, 11), rec('n2', 1, 2, 'end', 6_000, 11)], {}, [1]],
    ['a killed run gone before the retry started', [rec('n1', 1, 1, 'start', 0, 10), rec('n2', 1, 2, 'start', 5_000, 11), rec('n2', 1, 2, 'end', 6_000, 11)], { 10: 4_000 }, []],
    ['a killed run gone only after the retry started', [rec('n1', 1, 1, 'start', 0, 10), rec('n2', 1, 2, 'start', 5_000, 11), rec('n2', 1, 2, 'end', 6_000, 11)], { 10: 5_500 }, [1]],
    ['the same attempt delivered twice (two processes)', [rec('n1', 3, 1, 'start', 0, 10), rec('n2', 3, 1, 'start', 10, 11), rec('n1', 3, 1, 'end', 100, 10), rec('n2', 3, 1, 'end', 110, 11)], {}, [3]],
    ['different tasks at the same time', [rec('n1', 1, 1, 'start', 0, 10), rec('n1', 2, 1, 'start', 0, 11), rec('n1', 1, 1, 'end', 100, 10), rec('n1', 2, 1, 'end', 100, 11)], {}, []],
    ['back to back (end == next start)', [rec('n1', 1, 1, 'start', 0, 10), rec('n1', 1, 1, 'end', 100, 10), rec('n2', 1, 2, 'start', 100, 11), rec('n2', 1, 2, 'end', 200, 11)], {}, []],
  ] as Array<[string, string[], Record<number, number>, number[]]>)('%s', (_what, lines, gone, twice) => {
    const runs = buildRuns(parseRecords(lines.join('\n')), new Map(Object.entries(gone).map(([pid, ms]) => [Number(pid), at(ms)])));
    expect(tasksRunTwice(runs)).toEqual(twice);
  });

  it('says how each run ended', () => {
    const runs = buildRuns(parseRecords([rec('n1', 1, 1, 'start', 0, 10), rec('n1', 1, 1, 'end', 10, 10), rec('n1', 2, 1, 'start', 0, 11), rec('n1', 3, 1, 'start', 0, 12)].join('\n')), new Map([[11, at(50)]]));
    expect(runs.map((r) => [r.task, r.how, r.end])).toEqual([[1, 'ended', at(10)], [2, 'gone', at(50)], [3, 'running', Infinity]]);
    expect(concurrentRuns(runs)).toEqual([]);
  });
});
