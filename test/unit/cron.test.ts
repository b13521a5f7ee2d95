// Job scheduling decisions on an injected clock: due times across DST changes, bounded
// catch-up after downtime, 5- and 6-field schedules, refused expressions, config jobs.
import { describe, expect, it } from 'vitest';
import { configJobs } from '../../coordinator/scheduler/config-jobs.js';
import { dueAt, parseSchedule } from '../../coordinator/scheduler/cron.js';

const at = (iso: string) => new Date(iso);
function cron(expr: string, tz?: string) {
  const c = parseSchedule(expr, tz);
  if (typeof c === 'string') throw new Error(c);
  return c;
}

describe('cron: what is due', () => {
  it.each([
    // [what, expr, tz, last fired, now, due]
    ['daily 09:00 Berlin, just after', '0 9 * * *', 'Europe/Berlin', '2026-06-01T07:00:00Z', '2026-06-02T07:00:30Z', '2026-06-02T07:00:00Z'],
    ['not yet', '0 9 * * *', 'Europe/Berlin', '2026-06-02T07:00:00Z', '2026-06-02T08:00:00Z', undefined],
    ['spring forward: 02:30 does not exist, it fires once at 03:00 CEST', '30 2 * * *', 'Europe/Berlin', '2026-03-28T01:30:00Z', '2026-03-29T01:10:00Z', '2026-03-29T01:00:00Z'],
    ['fall back: 02:30 happens twice, it fires once', '30 2 * * *', 'Europe/Berlin', '2026-10-25T00:30:00Z', '2026-10-25T01:45:00Z', undefined],
    ['after three days down: caught up once, the latest run', '0 * * * *', 'UTC', '2026-06-01T00:00:00Z', '2026-06-04T10:20:00Z', '2026-06-04T10:00:00Z'],
    ['a daily run missed by more than 24 h is not caught up', '0 9 * * 1', 'UTC', '2026-06-01T09:00:00Z', '2026-06-09T12:00:00Z', undefined],
    ['6 fields: every 10 seconds', '*/10 * * * * *', 'UTC', '2026-06-01T00:00:00Z', '2026-06-01T00:00:25Z', '2026-06-01T00:00:20Z'],
  ])('%s', (_what, expr, tz, last, now, want) => {
    const got = dueAt(cron(expr, tz), { lastScheduled: at(last), since: at('2026-01-01T00:00:00Z'), now: at(now) });
    expect(got?.toISOString()).toBe(want ? at(want).toISOString() : undefined);
  });

  it('a new job does not fire for times before it existed', () => {
    expect(dueAt(cron('0 * * * *'), { since: at('2026-06-01T10:30:00Z'), now: at('2026-06-01T10:45:00Z') })).toBeUndefined();
    expect(dueAt(cron('0 * * * *'), { since: at('2026-06-01T10:30:00Z'), now: at('2026-06-01T11:00:01Z') })?.toISOString()).toBe('2026-06-01T11:00:00.000Z');
  });

  it.each([['61 * * * *', /minute/], ['* * *', /3 fields/], ['0 9 * * *', /time ?zone|timezone|Invalid/i, 'Mars/Olympus']])('refuses %s with the reason', (expr, why, tz?: string) => {
    const c = parseSchedule(expr, tz);
    expect(typeof c).toBe('string');
    expect(c as string).toMatch(why);
  });
});

describe('config jobs', () => {
  it('turns the Rust orch format into jobs, and says which entries are wrong and why', () => {
    const { jobs, problems } = configJobs([{
      file: '/h/config.yml', jobs: [
        { id: 'code-review', schedule: '0 4,17 * * *', task: { title: 'Code review', body: 'Review', labels: ['review'] }, enabled: true },
        { id: 'bad cron', schedule: '0 4 * *', task: { title: 'x' } },
        { id: 'nope', schedule: '61 * * * *', task: { title: 'x' } },
        { id: 'untitled', schedule: '0 * * * *' },
      ],
    }], ['owner/repo']);
    expect(jobs).toEqual([expect.objectContaining({ id: 'code-review', project: 'owner/repo', schedule: '0 4,17 * * *', title: 'Code review', labels: ['review'], enabled: true, source: 'config' })]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^\/h\/config.yml: jobs\[1\] \(bad cron\): id/);
    expect(problems[1]).toMatch(/jobs\[2\] \(nope\): schedule: .*minute/);
    expect(problems[2]).toMatch(/jobs\[3\] \(untitled\): task.title/);
  });
  it('bash jobs: a command, and an optional timeout that must be a positive whole number', () => {
    const { jobs, problems } = configJobs([{
      file: '/h/config.yml', jobs: [
        { id: 'ci-check', schedule: '*/30 * * * *', type: 'bash', command: 'scripts/ci-check.sh', timeout_seconds: 300 },
        { id: 'plain', schedule: '0 * * * *', type: 'bash', command: 'make lint' },
        { id: 'slow', schedule: '0 * * * *', type: 'bash', command: 'x', timeout_seconds: 'long' },
        { id: 'empty', schedule: '0 * * * *', type: 'bash' },
      ],
    }], ['owner/repo']);
    expect(jobs.map((j) => [j.id, j.type, j.command, j.timeoutSeconds])).toEqual([['ci-check', 'bash', 'scripts/ci-check.sh', 300], ['plain', 'bash', 'make lint', undefined]]);
    expect(problems).toEqual([
      '/h/config.yml: jobs[2] (slow): timeout_seconds: expected a positive integer, got "long"',
      '/h/config.yml: jobs[3] (empty): command: a bash job needs a command',
    ]);
  });
});
