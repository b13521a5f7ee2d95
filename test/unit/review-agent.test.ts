// The review agent's pure parts: who reviews, and what its answer means.
import { describe, expect, it } from 'vitest';
import { parseReview, pickReviewer, ReviewAnswerError, reviewBody, reviewPrompt } from '../../coordinator/github/review-agent.js';

describe('pickReviewer', () => {
  it.each([
    ['another agent than the author', { taskAgent: 'claude', fleet: ['claude', 'codex'] }, { agent: 'codex', sameAsAuthor: false }],
    ['the configured reviewer when the fleet has it', { taskAgent: 'claude', fleet: ['claude', 'codex', 'opencode'], configured: 'opencode' }, { agent: 'opencode', sameAsAuthor: false }],
    ['another agent when the configured one is missing', { taskAgent: 'claude', fleet: ['claude', 'codex'], configured: 'kimi' }, { agent: 'codex', sameAsAuthor: false }],
    ['the author itself in a fleet of one agent', { taskAgent: 'claude', fleet: ['claude'] }, { agent: 'claude', sameAsAuthor: true }],
    ['nobody when the fleet has no agent', { taskAgent: 'claude', fleet: [] }, undefined],
  ])('%s', (_name, input, want) => {
    expect(pickReviewer(input)).toEqual(want);
  });
});

describe('parseReview', () => {
  it('reads the last JSON object with a decision, fenced or bare, after prose', () => {
    expect(parseReview('I read it.\n{"decision":"approve","summary":"fine","comments":[]}')).toEqual({ decision: 'approve', summary: 'fine', comments: [] });
    expect(parseReview('```json\n{"decision": "request_changes", "summary": "no tests", "comments": ["add a test"]}\n```'))
      .toEqual({ decision: 'request_changes', summary: 'no tests', comments: ['add a test'] });
    expect(parseReview('{"decision":"approve"} then {"decision":"request changes","comments":[{"file":"a.ts"}]}').comments).toEqual(['{"file":"a.ts"}']);
    expect(parseReview('{"verdict":"APPROVED","summary":"ok"}').decision).toBe('approve');
    expect(parseReview('{"summary":"a } in a string","decision":"approve"}').summary).toBe('a } in a string');
  });

  it.each([
    ['no JSON', 'looks good to me', /no JSON object/],
    ['an unknown decision', '{"decision":"maybe"}', /unknown decision "maybe"/],
    ['a missing decision', '{"summary":"x"}', /unknown decision null/],
  ])('refuses %s with the reason', (_n, text, reason) => {
    expect(() => parseReview(text)).toThrow(ReviewAnswerError);
    expect(() => parseReview(text)).toThrow(reason);
  });
});

describe('the review prompt and body', () => {
  it('carries the task, the files and the diff (fences defused); the body names the verdict and is redacted', () => {
    const p = reviewPrompt({ title: 'Add x', body: 'Do x', prNumber: 7, diff: '+x\n```\n', files: ['x.ts'] });
    expect(p).toContain('# Pull request #7: Add x');
    expect(p).toContain('- x.ts');
    expect(p).toContain('+x');
    expect(p.match(/```/g)).toHaveLength(2); // the diff's own fence cannot close ours
    const b = reviewBody({ decision: 'request_changes', summary: 'key ghp_0123456789abcdefghijklmnopqrstuvwxyzAB leaked', comments: ['fix it'] }, { agent: 'codex', model: 'gpt-5' });
    expect(b).toContain('changes requested** (codex/gpt-5)');
    expect(b).toContain('- fix it');
    expect(b).not.toContain('ghp_0123456789abcdefghijklmnopqrstuvwxyzAB');
  });
});
