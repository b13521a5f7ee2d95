// Delegated child tasks and the retry prompt's memory, as pure functions.
import { describe, expect, it } from 'vitest';
import { childrenDone, childTasks, MAX_DELEGATIONS, waitingReason } from '../../coordinator/delegation.js';
import { boundDiff, taskPrompt } from '../../coordinator/prompt.js';
import type { TaskRow } from '../../coordinator/store/store.js';

const task = (o: Partial<TaskRow>): TaskRow => ({
  id: 7, project: 'o/r', title: 't', body: '', status: 'in_progress', agent: 'claude', model: '', complexity: 'medium', labels: [],
  branch: 'orch/7-t', summary: '', reason: '', attempts: 1, spent: 1, head: '', trace: {}, filesChanged: [], memory: [], parentId: null, issueNumber: null, prNumber: null,
  createdAt: new Date(0), updatedAt: new Date(0), ...o,
});

describe('delegations', () => {
  it('become children of the same project, untitled ones dropped, at most MAX_DELEGATIONS', () => {
    const many = Array.from({ length: 15 }, (_, i) => ({ title: `c${i}`, body: 'b', labels: ['x'] }));
    expect(childTasks(task({}), [{ title: '  ', body: '', labels: [] }, ...many]).length).toBe(MAX_DELEGATIONS - 1);
    expect(childTasks(task({}), many.slice(0, 1))).toEqual([{ project: 'o/r', title: 'c0', body: 'b', labels: ['x'], parentId: 7 }]);
  });
  it('the parent resumes only while blocked and once every child is done', () => {
    const done = task({ status: 'done' });
    expect(childrenDone(task({ status: 'blocked' }), [done, done])).toBe(true);
    expect(childrenDone(task({ status: 'blocked' }), [done, task({ status: 'routed' })])).toBe(false);
    expect(childrenDone(task({ status: 'needs_review' }), [done])).toBe(false);
    expect(childrenDone(task({ status: 'blocked' }), [])).toBe(false);
    expect(waitingReason([8, 9])).toBe('waiting for delegated tasks #8, #9');
  });
});

describe('retry memory in the prompt', () => {
  const input = { taskId: 7, title: 'T', body: 'do it', labels: [], project: 'o/r', branch: 'b', memory: [] };
  it('carries approach, error, learnings, files, and the latest diff (bounded, fences neutralised)', () => {
    const p = taskPrompt({
      ...input, memory: [
        { attempt: 1, agent: 'codex', model: 'm', outcome: 'failed (Timeout)', summary: '', error: 'silent', learnings: ['a'], filesChanged: ['x.ts'] },
        { attempt: 2, agent: 'claude', model: '', outcome: 'answered in_progress', summary: 'half', approach: 'did x', diff: '+```evil\n+line\n' },
      ],
    });
    expect(p).toContain('- Attempt 1 (codex/m): failed (Timeout).\n  Error: silent\n  Learned: a\n  Files changed: x.ts');
    expect(p).toContain('- Attempt 2 (claude): answered in_progress. half\n  Approach: did x');
    expect(p).toContain('## What the branch changed so far (diff after attempt 2)\n\n```diff\n+`\u200b``evil\n+line\n\n```');
  });
  it('cuts a long diff at a line with a note', () => {
    const diff = Array.from({ length: 100 }, (_, i) => `+line ${i}`).join('\n');
    const b = boundDiff(diff, 50);
    expect(b).toBe(`${diff.slice(0, diff.lastIndexOf('\n', 50))}\n… (diff cut at 50 characters of ${diff.length})`);
    expect(boundDiff('short')).toBe('short');
  });
});
