import { describe, expect, it } from 'vitest';
import { parseChaosArgs } from '../chaos/options.js';
import { attemptOf, judgeBranch, reflogTargets } from '../chaos/pushes.js';
import { exitCode, formatDuration, formatTable, rowFailed, type ChaosRow } from '../chaos/table.js';

const ok: ChaosRow = { fault: 'nats-restart', tasks: 30, done: 30, lost: 0, runTwice: 0, otherPushes: 0, moved: 0, recoveryMs: 1234 };

describe('chaos table', () => {
  it.each([
    ['all good', ok, false],
    ['a lost task', { ...ok, done: 29, lost: 1 }, true],
    ['a task run twice', { ...ok, runTwice: 1 }, true],
    ['a moved branch', { ...ok, moved: 1 }, true],
    ['pushes by other attempts alone', { ...ok, otherPushes: 2 }, false],
    ['an error', { ...ok, error: 'fleet did not start' }, true],
  ] as Array<[string, ChaosRow, boolean]>)('%s -> failed %s', (_w, row, failed) => {
    expect(rowFailed(row)).toBe(failed);
    expect(exitCode([ok, row])).toBe(failed ? 1 : 0);
  });

  it('fails an empty run', () => {
    expect(exitCode([])).toBe(1);
  });

  it('formats aligned rows with a verdict', () => {
    const t = formatTable([ok, { ...ok, fault: 'node-kill9', lost: 2, done: 28, recoveryMs: undefined }, { ...ok, fault: 'x', error: 'boom' }]);
    expect(t.split('\n')).toEqual([
      'fault        | tasks | done | lost | run twice | other-attempt pushes | branch wrong | recovery | verdict',
      '-------------|-------|------|------|-----------|----------------------|--------------|----------|--------',
      'nats-restart | 30    | 30   | 0    | 0         | 0                    | 0            | 1.2 s    | ok',
      'node-kill9   | 30    | 28   | 2    | 0         | 0                    | 0            | -        | FAIL',
      'x            | 30    | 30   | 0    | 0         | 0                    | 0            | 1.2 s    | ERROR: boom',
      '',
    ]);
  });

  it('formats durations', () => {
    expect([formatDuration(undefined), formatDuration(950), formatDuration(12_400)]).toEqual(['-', '0.9 s', '12 s']);
  });
});

describe('chaos branch verdict', () => {
  it.each([
    ['only the succeeded attempt pushed', 2, { updates: [2], head: 2 }, { otherPushes: 0, moved: false }],
    ['a failed attempt pushed before the retry that succeeded', 2, { updates: [1, 2], head: 2 }, { otherPushes: 1, moved: false }],
    ['a superseded attempt pushed after the succeeded one', 2, { updates: [2, 1], head: 1 }, { otherPushes: 1, moved: true }],
    ['overwritten and then restored', 2, { updates: [2, 1, 2], head: 2 }, { otherPushes: 1, moved: true }],
    ['no branch on the origin', 1, { updates: [], head: 0 }, { otherPushes: 0, moved: true }],
  ])('%s', (_w, succeeded, h, v) => {
    expect(judgeBranch(succeeded, h)).toEqual(v);
  });

  it('reads the attempt from the agent\'s file and commits from a reflog', () => {
    expect(attemptOf('task 12 attempt 3\n', 12)).toBe(3);
    expect(attemptOf('task 13 attempt 3\n', 12)).toBe(0);
    expect(attemptOf('task 12\n', 12)).toBe(0);
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    const z = '0'.repeat(40);
    expect(reflogTargets(`${z} ${a} orch <o@x> 1700000000 +0000\tpush\n${a} ${b} orch <o@x> 1700000001 +0000\tpush\n${b} ${z} orch <o@x> 1700000002 +0000\tdelete\n`)).toEqual([a, b]);
  });
});

describe('chaos options', () => {
  const faults = ['node-kill9', 'nats-restart'];
  it.each([
    [[], { tasks: 200, quick: false, only: undefined, keep: false }],
    [['--quick'], { tasks: 30, quick: true, only: undefined, keep: false }],
    [['--quick', '--only', 'nats-restart'], { tasks: 30, quick: true, only: ['nats-restart'], keep: false }],
    [['--only', 'node-kill9,nats-restart', '--tasks', '12', '--keep'], { tasks: 12, quick: false, only: ['node-kill9', 'nats-restart'], keep: true }],
  ])('%j', (argv, want) => {
    expect(parseChaosArgs(argv, faults)).toEqual(want);
  });

  it.each([
    [['--only', 'meteor'], /unknown fault "meteor"; faults are node-kill9, nats-restart/],
    [['--tasks', 'many'], /--tasks must be a positive integer, got "many"/],
    [['--tasks', '0'], /--tasks must be a positive integer/],
    [['--fast'], /Unknown option '--fast'/],
    [['extra'], /unexpected argument extra/],
  ])('refuses %j', (argv, msg) => {
    expect(() => parseChaosArgs(argv, faults)).toThrow(msg);
  });
});
