// Pull requests and their verdicts, purely: the PR text from the agent's answer, and what
// the PR's checks, statuses and reviews mean for its task (wait, send back, merge).
import { redact } from '../../runtime/redact.js';

export interface AnswerView { summary?: string; accomplished?: string[]; remaining?: string[]; filesChanged?: string[] }

export function prTitle(taskTitle: string, taskId: number): string { return `${taskTitle} (orch #${taskId})`.slice(0, 250); }

export function prBody(a: { taskId: number; issueNumber: number | null; answer: AnswerView | null }): string {
  const parts = [a.answer?.summary?.trim() || 'Work by orch.'];
  if (a.answer?.accomplished?.length) parts.push('', '**Done**', ...a.answer.accomplished.map((x) => `- ${x}`));
  if (a.answer?.remaining?.length) parts.push('', '**Remaining**', ...a.answer.remaining.map((x) => `- ${x}`));
  if (a.answer?.filesChanged?.length) parts.push('', '**Files**', ...a.answer.filesChanged.map((f) => `- \`${f}\``));
  parts.push('', a.issueNumber ? `Closes #${a.issueNumber}` : `orch task ${a.taskId}`);
  return redact(parts.join('\n'));
}

export interface CheckView { name: string; status: string; conclusion: string | null; text: string }
export interface ReviewView { id: number; user: string; state: string; body: string }

export type PrVerdict =
  | { kind: 'merged' }
  | { kind: 'closed' }
  | { kind: 'wait'; why: string }
  | { kind: 'ci_failed'; check: string; excerpt: string }
  | { kind: 'changes_requested'; review: ReviewView }
  | { kind: 'green'; approved: boolean };

const FAILED = ['failure', 'timed_out', 'cancelled', 'action_required', 'error'];
export const EXCERPT_CHARS = 2000;

/** The verdict on a PR. `reviewSeen`: the newest review id already acted on; `judgedHead`: head whose failure was sent back. */
export function judgePr(p: {
  state: 'open' | 'closed'; merged: boolean; headSha: string; judgedHead: string; reviewSeen: number;
  checks: CheckView[]; reviews: ReviewView[];
}): PrVerdict {
  if (p.merged) return { kind: 'merged' };
  if (p.state === 'closed') return { kind: 'closed' };
  const fresh = p.reviews.filter((r) => r.id > p.reviewSeen && r.state === 'CHANGES_REQUESTED');
  if (fresh.length) return { kind: 'changes_requested', review: fresh[fresh.length - 1] };
  const failed = p.checks.find((c) => c.status === 'completed' && c.conclusion && FAILED.includes(c.conclusion));
  if (failed) {
    if (p.judgedHead === p.headSha) return { kind: 'wait', why: `check ${failed.name} failed on ${p.headSha.slice(0, 7)}; already sent back` };
    return { kind: 'ci_failed', check: failed.name, excerpt: redact(failed.text).slice(-EXCERPT_CHARS) };
  }
  const pending = p.checks.filter((c) => c.status !== 'completed');
  if (pending.length) return { kind: 'wait', why: `checks running: ${pending.map((c) => c.name).join(', ')}` };
  // The newest review per person counts; an approval stands unless someone's newest asks for changes.
  const latest = new Map<string, ReviewView>();
  for (const r of p.reviews) if (r.state === 'APPROVED' || r.state === 'CHANGES_REQUESTED') latest.set(r.user, r);
  const states = [...latest.values()].map((r) => r.state);
  return { kind: 'green', approved: states.includes('APPROVED') && !states.includes('CHANGES_REQUESTED') };
}
