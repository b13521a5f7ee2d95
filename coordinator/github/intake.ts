// Sync in, as a pure decision: what an issue (from a webhook or a poll) means for the
// task that mirrors it. orch's own status:* labels never count as an edit, so orch's
// writes coming back from GitHub change nothing (no loop).
import type { TaskStatus } from '../lifecycle.js';

export interface IssueView {
  number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  stateReason?: string | null;
  labels: string[];
  isPull: boolean;
  updatedAt: string;
}

export interface MirrorView { id: number; status: TaskStatus; title: string; body: string; labels: string[]; updatedAt: Date }

export type IntakeAction =
  | { kind: 'create'; labels: string[] }
  | { kind: 'edit'; patch: { title?: string; body?: string; labels?: string[] }; what: string }
  | { kind: 'close' }
  | { kind: 'reopen' }
  | { kind: 'none'; why: string };

export const NO_AGENT = 'no-agent';

/** Labels orch writes itself; they never steer a task. */
export function isOrchLabel(l: string): boolean { return /^status:/i.test(l); }

export function taskLabels(labels: string[]): string[] { return labels.filter((l) => !isOrchLabel(l)); }

export function intake(issue: IssueView, task: MirrorView | undefined, opts: { intakeLabels?: string[]; reopened?: boolean }): IntakeAction {
  if (issue.isPull) return { kind: 'none', why: 'a pull request' };
  const labels = taskLabels(issue.labels);
  if (!task) {
    if (issue.state !== 'open') return { kind: 'none', why: 'closed and never a task' };
    if (labels.some((l) => l.toLowerCase() === NO_AGENT)) return { kind: 'none', why: `labelled ${NO_AGENT}` };
    const want = (opts.intakeLabels ?? []).map((l) => l.toLowerCase());
    if (want.length && !labels.some((l) => want.includes(l.toLowerCase()))) return { kind: 'none', why: `none of gh.intake_labels (${opts.intakeLabels!.join(', ')})` };
    return { kind: 'create', labels };
  }
  if (issue.state === 'closed') return task.status === 'done' ? { kind: 'none', why: 'closed and done' } : { kind: 'close' };
  if (task.status === 'done') {
    // Reopened by someone after orch (or a person) finished it: run it again.
    const reopened = opts.reopened || (issue.stateReason === 'reopened' && new Date(issue.updatedAt) > task.updatedAt);
    return reopened ? { kind: 'reopen' } : { kind: 'none', why: 'done; the issue is open but was not reopened' };
  }
  const patch: { title?: string; body?: string; labels?: string[] } = {};
  const what: string[] = [];
  if (issue.title !== task.title) { patch.title = issue.title; what.push('title'); }
  if ((issue.body ?? '') !== task.body) { patch.body = issue.body ?? ''; what.push('body'); }
  const same = labels.length === task.labels.length && labels.every((l) => task.labels.includes(l));
  if (!same) { patch.labels = labels; what.push('labels'); }
  return what.length ? { kind: 'edit', patch, what: `${what.join(', ')} changed on GitHub` } : { kind: 'none', why: 'unchanged' };
}
