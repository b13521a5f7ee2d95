// Decisions behind `orch task attach` and `orch log`, without I/O where there is none:
// which attempt a terminal goes to (or why none), what a node accepts as an attach request,
// and the coordinator's log file rotating by size and read back across its rotations.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attachArgs, parseAttachRequest } from '../../agent-node/attach.js';
import { duration, formatLogLine } from '../../cli/commands/observe.js';
import { attachTarget } from '../../coordinator/attach-relay.js';
import { RotatingLogFile, tailLog } from '../../runtime/log-file.js';

const at = new Date('2026-11-30T08:00:00Z');
const att = (number: number, state: string, session = `orch-demo-7-${number}`) => ({ number, state, node: 'n1', session, finishedAt: state === 'running' || state === 'assigned' ? null : at });

describe('attachTarget: the attempt a terminal goes to, or a message a user can act on', () => {
  const cases: Array<[string, { id: number; status: string } | undefined, ReturnType<typeof att>[], { attempt: number } | RegExp]> = [
    ['the running attempt', { id: 7, status: 'in_progress' }, [att(1, 'failed'), att(2, 'running')], { attempt: 2 }],
    ['no such task', undefined, [], /^task 7 not found$/],
    ['a finished task names its end and where its output is', { id: 7, status: 'done' }, [att(1, 'succeeded')], /^task 7 is not running \(done, its last attempt ended 2026-11-30T08:00:00.000Z\).*orch task logs 7/],
    ['a task waiting for a node', { id: 7, status: 'routed' }, [], /not running yet \(routed: waiting for a node\)/],
    ['an attempt still starting', { id: 7, status: 'in_progress' }, [att(1, 'assigned')], /starting \(attempt 1 on node n1\): try again/],
    ['a task that needs review', { id: 7, status: 'needs_review' }, [att(1, 'failed'), att(2, 'failed')], /not running \(needs_review/],
  ];
  for (const [name, task, attempts, want] of cases) {
    it(name, () => {
      const got = attachTarget(task, attempts, 7);
      if (want instanceof RegExp) expect('refusal' in got ? got.refusal : `attempt ${JSON.stringify(got)}`).toMatch(want);
      else expect(got).toEqual(want);
    });
  }
});

describe('parseAttachRequest: what a node accepts on its control subject', () => {
  const ok = { op: 'attach', relay: '1b4e28ba-2fa1-11d2-883f-0016d3cca427', token: 'tok', taskId: 7, readOnly: true, cols: 120, rows: 40, term: 'screen-256color' };
  it('takes a well-formed request', () => {
    expect(parseAttachRequest(ok)).toEqual({ relay: ok.relay, token: 'tok', taskId: 7, readOnly: true, cols: 120, rows: 40, term: 'screen-256color' });
  });
  it('refuses a request without a relay or token, with the reason', () => {
    expect(parseAttachRequest({ ...ok, relay: 'x; rm -rf /' })).toBe('attach request without a valid relay id');
    expect(parseAttachRequest({ ...ok, token: '' })).toBe('attach request without an attempt token');
  });
  it('falls back to sane sizes and TERM rather than passing odd values to a terminal', () => {
    const r = parseAttachRequest({ ...ok, cols: -3, rows: 99999, term: 'xterm; echo pwned', readOnly: 'yes' });
    expect(r).toMatchObject({ cols: 80, rows: 1000, term: 'xterm-256color', readOnly: false });
  });
  it('attaches read-only with tmux -r, to the exact session name', () => {
    expect(attachArgs('orch', 'orch-demo-7-2', true)).toEqual(['-L', 'orch', 'attach-session', '-r', '-t', '=orch-demo-7-2']);
    expect(attachArgs('orch', 'orch-demo-7-2', false)).toEqual(['-L', 'orch', 'attach-session', '-t', '=orch-demo-7-2']);
  });
});

describe('the coordinator log file', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('rotates by size, keeps only the configured number of old files, and reads the last lines across them in order', () => {
    dir = mkdtempSync(join(tmpdir(), 'orch-logfile-'));
    const path = join(dir, 'logs', 'coordinator.log');
    const f = new RotatingLogFile(path, { maxBytes: 100, keep: 2 });
    const line = (i: number) => `${JSON.stringify({ level: 'info', msg: `line ${String(i).padStart(3, '0')}` })}\n`; // 34 bytes
    for (let i = 1; i <= 20; i++) f.write(line(i));
    f.close();
    expect(statSync(path).size).toBeLessThanOrEqual(100);
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false); // keep: 2
    expect((statSync(path).mode & 0o777).toString(8)).toBe('600');
    // 20 lines, 2 per file: the current file holds 19-20, .1 17-18, .2 15-16; older ones are gone.
    const all = [readFileSync(`${path}.2`, 'utf8'), readFileSync(`${path}.1`, 'utf8'), readFileSync(path, 'utf8')].join('');
    expect(all).toBe([15, 16, 17, 18, 19, 20].map(line).join(''));
    expect(tailLog(path, 3, 2)).toEqual([18, 19, 20].map((i) => line(i).trimEnd()));
    expect(tailLog(path, 100, 2)).toEqual([15, 16, 17, 18, 19, 20].map((i) => line(i).trimEnd()));
    expect(tailLog(join(dir, 'none.log'), 5)).toEqual([]);
  });

  it('a new file continues where the old one ended (a restarted coordinator appends)', () => {
    dir = mkdtempSync(join(tmpdir(), 'orch-logfile-'));
    const path = join(dir, 'c.log');
    const a = new RotatingLogFile(path, { maxBytes: 1000 });
    a.write('one\n');
    a.close();
    const b = new RotatingLogFile(path, { maxBytes: 1000 });
    b.write('two\n');
    b.close();
    expect(tailLog(path, 10)).toEqual(['one', 'two']);
  });
});

describe('orch log and orch task live formatting', () => {
  it('a log record reads as time, level, component, message, then fields', () => {
    const l = formatLogLine(JSON.stringify({ level: 'info', time: '2026-11-30T08:00:00.000Z', component: 'coordinator', msg: 'task changed', task: 7, status: 'done', event: 'agent said done' }));
    expect(l).toMatch(/^\d\d:\d\d:00\.000 INFO  coordinator task changed task=7 status=done event="agent said done"$/);
    expect(formatLogLine('not json')).toBe('not json');
  });
  it('runtimes read in the largest units that matter', () => {
    expect([duration(4_000), duration(75_000), duration(3 * 3600_000 + 5 * 60_000)]).toEqual(['4s', '1m15s', '3h05m']);
  });
});
