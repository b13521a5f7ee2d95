// The review agent (`workflow.enable_review_agent`): a different agent than the task's
// reads the PR's diff and approves or requests changes. The choice of reviewer, the
// prompt and the reading of its answer are pure; the call goes through the coordinator's
// asker (a one-shot run on a node that has the agent).
import { redact } from '../../runtime/redact.js';
import { jsonCandidates } from '../../agent-node/answer.js';
import { boundDiff } from '../prompt.js';

export interface ReviewVerdict {
  decision: 'approve' | 'request_changes';
  summary: string;
  comments: string[];
}

/**
 * Who reviews: `workflow.review_agent` when the fleet has it, else the first agent of the
 * fleet that is not the task's own, else (a fleet of one agent) the task's agent itself.
 */
export function pickReviewer(o: { taskAgent: string; fleet: string[]; configured?: string }): { agent: string; sameAsAuthor: boolean } | undefined {
  if (o.configured && o.fleet.includes(o.configured)) return { agent: o.configured, sameAsAuthor: o.configured === o.taskAgent };
  const other = [...o.fleet].sort().find((a) => a !== o.taskAgent);
  if (other) return { agent: other, sameAsAuthor: false };
  return o.fleet.includes(o.taskAgent) ? { agent: o.taskAgent, sameAsAuthor: true } : undefined;
}

export const REVIEW_SYSTEM = [
  'You are a code reviewer for pull requests made by another coding agent.',
  'Review the diff for correctness, missing pieces against the task, tests, and risky changes.',
  'Do not run tools or change files: read what you are given and answer.',
  'Answer with ONE JSON object and nothing else:',
  '{"decision": "approve" | "request_changes", "summary": "one paragraph", "comments": ["specific change the author must make", ...]}',
  'Request changes only for problems the author must fix; style nits alone are an approval.',
].join('\n');

export function reviewPrompt(o: { title: string; body: string; prNumber: number; diff: string; files: string[] }): string {
  const fence = (s: string) => s.replace(/```/g, '`\u200b``');
  return [
    `# Pull request #${o.prNumber}: ${o.title}`,
    '',
    '## The task',
    '',
    o.body.trim() || '(no description)',
    '',
    `## Files changed (${o.files.length})`,
    ...o.files.map((f) => `- ${f}`),
    '',
    '## Diff',
    '',
    '```diff',
    fence(boundDiff(o.diff || '(no diff was recorded)')),
    '```',
  ].join('\n') + '\n';
}

export class ReviewAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReviewAnswerError';
  }
}

/** The verdict in a review agent's text: the last JSON object with a valid decision. */
export function parseReview(text: string): ReviewVerdict {
  let problem = 'no JSON object in the answer';
  for (const c of jsonCandidates(text)) {
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(c) as Record<string, unknown>;
    } catch {
      problem = 'the answer\'s JSON does not parse';
      continue;
    }
    const d = String(v.decision ?? v.verdict ?? '').toLowerCase().replace(/[\s-]+/g, '_');
    const decision = d === 'approve' || d === 'approved' ? 'approve' : d === 'request_changes' || d === 'changes_requested' ? 'request_changes' : undefined;
    if (!decision) { problem = `unknown decision ${JSON.stringify(v.decision ?? null)} (approve or request_changes)`; continue; }
    const comments = Array.isArray(v.comments) ? v.comments.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).filter(Boolean) : [];
    return { decision, summary: typeof v.summary === 'string' ? v.summary : '', comments };
  }
  throw new ReviewAnswerError(problem);
}

/** The review as posted on the PR (redacted). */
export function reviewBody(v: ReviewVerdict, o: { agent: string; model: string }): string {
  const head = v.decision === 'approve' ? '✅ **orch review agent: approved**' : '❌ **orch review agent: changes requested**';
  const parts = [`${head} (${o.agent}${o.model ? `/${o.model}` : ''})`, '', v.summary.trim() || '(no summary)'];
  if (v.comments.length) parts.push('', ...v.comments.map((c) => `- ${c}`));
  return redact(parts.join('\n'));
}
