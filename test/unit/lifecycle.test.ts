import { describe, expect, it } from 'vitest';
import { decide, isRefusal, type LifecycleEvent, type TaskStatus } from '../../coordinator/lifecycle.js';

const facts = (status: TaskStatus, attempts = 1, maxAttempts = 3) => ({ status, attempts, maxAttempts });

describe('task lifecycle', () => {
  const cases: Array<[string, TaskStatus, number, LifecycleEvent, TaskStatus | 'refused', string?]> = [
    ['routing a new task', 'new', 0, { type: 'route', agent: 'claude', model: 'sonnet', complexity: 'medium', reason: 'rr' }, 'routed'],
    ['routing twice is refused', 'routed', 0, { type: 'route', agent: 'claude', model: '', complexity: 'medium', reason: '' }, 'refused'],
    ['dispatching a routed task', 'routed', 0, { type: 'dispatch', node: 'n1' }, 'in_progress'],
    ['dispatch after the last attempt gives up', 'routed', 3, { type: 'dispatch', node: 'n1' }, 'needs_review'],
    ['dispatching a done task is refused', 'done', 1, { type: 'dispatch', node: 'n1' }, 'refused'],
    ['agent says done', 'in_progress', 1, { type: 'answered', status: 'done', summary: 's', reason: '' }, 'done', 'succeeded'],
    ['agent says blocked', 'in_progress', 1, { type: 'answered', status: 'blocked', summary: 's', reason: 'no key' }, 'blocked', 'succeeded'],
    ['agent asks for review', 'in_progress', 1, { type: 'answered', status: 'needs_review', summary: 's', reason: '' }, 'needs_review', 'succeeded'],
    ['agent continues later', 'in_progress', 1, { type: 'answered', status: 'in_progress', summary: 's', reason: '' }, 'routed', 'succeeded'],
    ['agent continues but attempts are spent', 'in_progress', 3, { type: 'answered', status: 'in_progress', summary: 's', reason: '' }, 'needs_review', 'succeeded'],
    ['retryable failure re-routes', 'in_progress', 1, { type: 'failed', errorClass: 'RateLimit', message: '429', retryable: true }, 'routed', 'failed'],
    ['failure with no attempts left', 'in_progress', 3, { type: 'failed', errorClass: 'RateLimit', message: '429', retryable: true }, 'needs_review', 'failed'],
    ['auth failure needs a person', 'in_progress', 1, { type: 'failed', errorClass: 'Auth', message: '401', retryable: false }, 'needs_review', 'failed'],
    ['lost node re-queues', 'in_progress', 1, { type: 'lost', node: 'n1', why: 'silent' }, 'routed', 'lost'],
    ['a late result for a finished task is refused', 'done', 1, { type: 'answered', status: 'done', summary: '', reason: '' }, 'refused'],
    ['kill a running task', 'in_progress', 1, { type: 'killed', by: 'user' }, 'needs_review', 'killed'],
    ['kill an idle task is refused', 'routed', 1, { type: 'killed', by: 'user' }, 'refused'],
    ['close from anywhere', 'blocked', 1, { type: 'close', note: 'fixed by hand' }, 'done'],
    ['close a running task ends its attempt', 'in_progress', 1, { type: 'close', note: '' }, 'done', 'killed'],
    ['close twice is refused', 'done', 1, { type: 'close', note: '' }, 'refused'],
    ['retry a task that needs review', 'needs_review', 3, { type: 'retry' }, 'new'],
    ['retry a running task is refused', 'in_progress', 1, { type: 'retry' }, 'refused'],
    ['run resumes a blocked task', 'blocked', 1, { type: 'run' }, 'routed'],
    ['done with a pushed branch in a GitHub project goes to review', 'in_progress', 1, { type: 'answered', status: 'done', summary: 's', reason: '', review: true }, 'in_review', 'succeeded'],
    ['a PR is recorded in review', 'in_review', 1, { type: 'pr_opened', number: 3 }, 'in_review'],
    ['failing CI sends a task in review back', 'in_review', 1, { type: 'ci_failed', check: 'lint', fixes: 0, maxFixes: 3 }, 'routed'],
    ['failing CI after the last fix needs review', 'in_review', 2, { type: 'ci_failed', check: 'lint', fixes: 3, maxFixes: 3 }, 'needs_review'],
    ['CI on a task not in review is refused', 'routed', 1, { type: 'ci_failed', check: 'lint', fixes: 0, maxFixes: 3 }, 'refused'],
    ['requested changes send it back', 'in_review', 1, { type: 'changes_requested', by: 'carol' }, 'routed'],
    ['a merged PR finishes the task', 'in_review', 1, { type: 'merged', number: 3 }, 'done'],
    ['block a routed task', 'routed', 1, { type: 'block', reason: 'wait', by: 'carol' }, 'blocked'],
    ['block a running task ends its attempt', 'in_progress', 1, { type: 'block', reason: 'wait', by: 'carol' }, 'blocked', 'killed'],
    ['unblock only a blocked task', 'routed', 1, { type: 'unblock', by: 'carol' }, 'refused'],
    ['unblock re-routes', 'blocked', 1, { type: 'unblock', by: 'carol' }, 'new'],
    ['reroute a running task', 'in_progress', 1, { type: 'reroute', agent: 'codex', by: 'carol' }, 'new', 'killed'],
    ['an edit keeps the status', 'in_progress', 1, { type: 'edited', what: 'title' }, 'in_progress'],
    ['run a done task is refused', 'done', 1, { type: 'run' }, 'refused'],
  ];
  for (const [name, from, attempts, ev, to, attemptEnds] of cases) {
    it(name, () => {
      const t = decide(facts(from, attempts), ev);
      if (to === 'refused') {
        expect(isRefusal(t)).toBe(true);
        return;
      }
      if (isRefusal(t)) throw new Error(`refused: ${t.refused}`);
      expect(t.to).toBe(to);
      expect(t.attemptEnds).toBe(attemptEnds);
      expect(t.event).toMatch(/^[a-z_]+$/);
    });
  }
});
