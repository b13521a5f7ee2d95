// The pure decisions of GitHub sync: intake, status labels, slash commands, board
// columns, PR verdicts and the texts orch writes.
import { describe, expect, it } from 'vitest';
import { columnFor, optionFor } from '../../coordinator/github/board.js';
import { mayCommand, parseCommands } from '../../coordinator/github/commands.js';
import { resultComment } from '../../coordinator/github/comments.js';
import { intake, type IssueView, type MirrorView } from '../../coordinator/github/intake.js';
import { labelPlan } from '../../coordinator/github/labels.js';
import { judgePr, prBody, type CheckView, type ReviewView } from '../../coordinator/github/pr.js';
import { registerSecret } from '../../runtime/redact.js';

const issue = (o: Partial<IssueView> = {}): IssueView => ({ number: 7, title: 'T', body: 'B', state: 'open', labels: [], isPull: false, updatedAt: '2026-01-02T00:00:00Z', ...o });
const task = (o: Partial<MirrorView> = {}): MirrorView => ({ id: 1, status: 'routed', title: 'T', body: 'B', labels: [], updatedAt: new Date('2026-01-01T00:00:00Z'), ...o });

describe('intake', () => {
  const cases: Array<[string, IssueView, MirrorView | undefined, { intakeLabels?: string[]; reopened?: boolean }, string]> = [
    ['an open issue becomes a task', issue({ labels: ['bug', 'status:new'] }), undefined, {}, 'create'],
    ['no-agent keeps it out', issue({ labels: ['No-Agent'] }), undefined, {}, 'none'],
    ['intake labels limit intake', issue({ labels: ['bug'] }), undefined, { intakeLabels: ['orch'] }, 'none'],
    ['an intake label lets it in', issue({ labels: ['orch'] }), undefined, { intakeLabels: ['orch'] }, 'create'],
    ['a closed issue never seen is ignored', issue({ state: 'closed' }), undefined, {}, 'none'],
    ['a pull request is not an issue', issue({ isPull: true }), undefined, {}, 'none'],
    ['orch\'s own status label is no edit', issue({ labels: ['status:routed'] }), task(), {}, 'none'],
    ['a new title is an edit', issue({ title: 'T2' }), task(), {}, 'edit'],
    ['a steering label is an edit', issue({ labels: ['agent:codex'] }), task(), {}, 'edit'],
    ['closing closes the task', issue({ state: 'closed' }), task(), {}, 'close'],
    ['closed and done: nothing', issue({ state: 'closed' }), task({ status: 'done' }), {}, 'none'],
    ['reopened after done: run again', issue({ stateReason: 'reopened' }), task({ status: 'done' }), {}, 'reopen'],
    ['open but done, never reopened: nothing', issue(), task({ status: 'done' }), {}, 'none'],
    ['a reopened webhook reopens', issue(), task({ status: 'done' }), { reopened: true }, 'reopen'],
  ];
  it.each(cases)('%s', (_n, i, t, o, want) => { expect(intake(i, t, o).kind).toBe(want); });
  it('keeps orch\'s labels out of the task', () => {
    expect(intake(issue({ labels: ['bug', 'status:new'] }), undefined, {})).toEqual({ kind: 'create', labels: ['bug'] });
  });
});

describe('status labels', () => {
  it('one status label at a time', () => {
    expect(labelPlan(['bug', 'status:new'], 'routed')).toEqual({ add: ['status:routed'], remove: ['status:new'] });
    expect(labelPlan(['status:routed'], 'routed')).toEqual({ add: [], remove: [] });
    expect(labelPlan(['status:new', 'status:done'], 'in_progress')).toEqual({ add: ['status:in_progress'], remove: ['status:new', 'status:done'] });
  });
});

describe('slash commands', () => {
  it('parses one command per line, never inside code fences', () => {
    const body = ['/retry', 'please /close this', '```', '/close', '```', '~~~sh', '/block x', '~~~', '/reroute codex now', '/block waiting for keys', '/dance', '/UNBLOCK'].join('\n');
    expect(parseCommands(body)).toEqual({
      commands: [{ name: 'retry' }, { name: 'reroute', agent: 'codex' }, { name: 'block', reason: 'waiting for keys' }, { name: 'unblock' }],
      unknown: ['/dance'],
    });
  });
  it('only admin, maintain and write may command', () => {
    expect(['admin', 'maintain', 'write', 'triage', 'read', 'none', undefined].map(mayCommand)).toEqual([true, true, true, false, false, false, false]);
  });
});

describe('board columns', () => {
  it('maps statuses to columns and columns to options by name, or by gh.project_status_map', () => {
    expect((['new', 'routed', 'in_progress', 'blocked', 'in_review', 'needs_review', 'done'] as const).map(columnFor))
      .toEqual(['backlog', 'backlog', 'in_progress', 'in_progress', 'review', 'review', 'done']);
    const options = [{ id: 'a', name: 'Todo' }, { id: 'b', name: 'In Progress' }, { id: 'c', name: 'In review' }, { id: 'd', name: 'Done' }, { id: 'e', name: 'Shipped' }];
    expect(optionFor('backlog', options)).toBe('a');
    expect(optionFor('in_progress', options)).toBe('b');
    expect(optionFor('review', options)).toBe('c');
    expect(optionFor('done', options, { done: 'Shipped' })).toBe('e');
    expect(optionFor('done', options, { done: 'd' })).toBe('d');
    expect(optionFor('backlog', [{ id: 'x', name: 'Icebox' }])).toBeUndefined();
  });
});

describe('PR verdicts', () => {
  const check = (name: string, conclusion: string | null, status = 'completed', text = ''): CheckView => ({ name, status, conclusion, text });
  const review = (id: number, user: string, state: string): ReviewView => ({ id, user, state, body: `${state} by ${user}` });
  const base = { state: 'open' as const, merged: false, headSha: 'h2', judgedHead: '', reviewSeen: 0, checks: [] as CheckView[], reviews: [] as ReviewView[] };
  it.each([
    ['merged', { ...base, merged: true, state: 'closed' as const }, 'merged'],
    ['closed unmerged', { ...base, state: 'closed' as const }, 'closed'],
    ['a failing check', { ...base, checks: [check('test', 'success'), check('lint', 'failure', 'completed', 'x'.repeat(5000))] }, 'ci_failed'],
    ['the same failing head again', { ...base, judgedHead: 'h2', checks: [check('lint', 'failure')] }, 'wait'],
    ['checks still running', { ...base, checks: [check('test', null, 'in_progress')] }, 'wait'],
    ['changes requested', { ...base, reviews: [review(5, 'carol', 'CHANGES_REQUESTED')] }, 'changes_requested'],
    ['changes requested already acted on', { ...base, reviewSeen: 5, reviews: [review(5, 'carol', 'CHANGES_REQUESTED')] }, 'green'],
    ['green', { ...base, checks: [check('test', 'success')] }, 'green'],
  ])('%s', (_n, input, kind) => { expect(judgePr(input).kind).toBe(kind); });
  it('keeps the end of a failing check\'s output, and approval needs no outstanding request for changes', () => {
    const v = judgePr({ ...base, checks: [check('lint', 'failure', 'completed', 'a'.repeat(3000) + 'THE END')] });
    expect(v).toMatchObject({ kind: 'ci_failed', check: 'lint' });
    expect((v as { excerpt: string }).excerpt).toHaveLength(2000);
    expect((v as { excerpt: string }).excerpt.endsWith('THE END')).toBe(true);
    expect(judgePr({ ...base, reviewSeen: 9, reviews: [review(4, 'carol', 'APPROVED')] })).toEqual({ kind: 'green', approved: true });
    expect(judgePr({ ...base, reviewSeen: 9, reviews: [review(4, 'carol', 'APPROVED'), review(6, 'dave', 'CHANGES_REQUESTED')] })).toEqual({ kind: 'green', approved: false });
    expect(judgePr({ ...base, reviewSeen: 9, reviews: [review(4, 'carol', 'CHANGES_REQUESTED'), review(6, 'carol', 'APPROVED')] })).toEqual({ kind: 'green', approved: true });
  });
});

describe('texts orch writes', () => {
  it('a PR body closes the issue and carries no secret', () => {
    registerSecret('sekrit-value-123');
    const body = prBody({ taskId: 4, issueNumber: 12, answer: { summary: 'Fixed it with sekrit-value-123', accomplished: ['a'], filesChanged: ['x.ts'] } });
    expect(body).toContain('Closes #12');
    expect(body).not.toContain('sekrit-value-123');
    expect(body).toContain('- `x.ts`');
  });
  it('a result comment has summary, lists, tokens and cost, redacted', () => {
    const c = resultComment(4, 'in_review', { number: 2, agent: 'claude', model: 'sonnet', state: 'succeeded', summary: 'Done; token ghp_abcdefghijklmnopqrstuvwxyz0123456789', errorClass: '', errorMessage: '',
      inputTokens: 1200, outputTokens: 340, costUsd: 0.0123, durationMs: 65_000, answer: { accomplished: ['wrote x'], remaining: ['docs'], filesChanged: ['x.ts'] } });
    expect(c).toContain('attempt 2 of task 4');
    expect(c).toContain('**Accomplished**\n- wrote x');
    expect(c).toContain('**Remaining**\n- docs');
    expect(c).toContain('1200 in / 340 out tokens · $0.0123 · 65 s');
    expect(c).not.toContain('ghp_abcdefghijklmnopqrstuvwxyz0123456789');
  });
});
