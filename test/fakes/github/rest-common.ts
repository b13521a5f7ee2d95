// What the fake GitHub's REST operations share: the request context, errors as GitHub
// sends them, repository/issue lookups, push permission, pagination with Link headers,
// and the issue changes that fire webhooks like GitHub's.
import type { FakeIssue, FakeRepo, GitHubState } from './state.js';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly extra: Record<string, unknown> = {}) { super(message); }
}

export interface RestContext {
  state: GitHubState;
  params: Record<string, string>;
  query: URLSearchParams;
  body: any;
  /** The authenticated login ('' for an app JWT). */
  login: string;
  appId?: number;
  emit(event: string, action: string | undefined, payload: Record<string, unknown>, sender: string): void;
  rate: { limit: number; remaining: number; resetAt: number };
  installation: { id: number; appId: number; tokenTtlMs: number; issue(): { token: string; expiresAt: Date } } | undefined;
}
export interface RestResult { status: number; body?: unknown; headers?: Record<string, string> }
export type Handler = (c: RestContext) => RestResult;

const PER_PAGE_DEFAULT = 30;

export function repoOf(c: RestContext): FakeRepo {
  const r = c.state.repo(`${c.params.owner}/${c.params.repo}`);
  if (!r) throw new HttpError(404, 'Not Found');
  return r;
}
export function issueOf(c: RestContext, r: FakeRepo, n = Number(c.params.issue_number ?? c.params.pull_number)): FakeIssue {
  const i = r.issues.get(n);
  if (!i) throw new HttpError(404, 'Not Found');
  return i;
}
export function pullOf(c: RestContext, r: FakeRepo): FakeIssue {
  const i = issueOf(c, r);
  if (!i.pull) throw new HttpError(404, 'Not Found');
  return i;
}
export function requirePush(c: RestContext, r: FakeRepo): void {
  if (c.appId !== undefined) return; // the app is installed with write permissions
  const p = r.collaborators.get(c.login);
  if (!p || !['admin', 'maintain', 'write'].includes(p)) throw new HttpError(403, 'Must have push access to repository');
}

/** One page of a list, with GitHub's Link header. */
export function page<T>(c: RestContext, items: T[], path: string): { items: T[]; headers: Record<string, string> } {
  const per = Math.min(100, Number(c.query.get('per_page') ?? PER_PAGE_DEFAULT));
  const pageNo = Math.max(1, Number(c.query.get('page') ?? 1));
  const last = Math.max(1, Math.ceil(items.length / per));
  const links: string[] = [];
  const link = (p: number, rel: string) => {
    const q = new URLSearchParams(c.query);
    q.set('per_page', String(per));
    q.set('page', String(p));
    links.push(`<${c.state.baseUrl()}${path}?${q}>; rel="${rel}"`);
  };
  if (pageNo < last) { link(pageNo + 1, 'next'); link(last, 'last'); }
  if (pageNo > 1) { link(1, 'first'); link(pageNo - 1, 'prev'); }
  return { items: items.slice((pageNo - 1) * per, pageNo * per), headers: links.length ? { link: links.join(', ') } : {} };
}

export function labelNames(raw: unknown): string[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((l) => (typeof l === 'string' ? l : (l as { name: string }).name));
}

export function issuesEvent(c: RestContext, r: FakeRepo, i: FakeIssue, action: string, extra: Record<string, unknown> = {}): void {
  c.emit(i.pull ? 'pull_request' : 'issues', action, i.pull
    ? { number: i.number, pull_request: c.state.pullJson(r, i), ...extra }
    : { issue: c.state.issueJson(r, i), ...extra }, c.login || 'orch-app[bot]');
}

export function setState(c: RestContext, r: FakeRepo, i: FakeIssue, state: 'open' | 'closed', reason?: string | null): void {
  if (i.state === state) return;
  i.state = state;
  i.closedAt = state === 'closed' ? c.state.clock.now() : null;
  i.stateReason = state === 'closed' ? (reason === 'not_planned' ? 'not_planned' : 'completed') : 'reopened';
  c.state.touch(i);
  issuesEvent(c, r, i, state === 'closed' ? 'closed' : 'reopened');
}

export function addLabels(c: RestContext, r: FakeRepo, i: FakeIssue, names: string[]): void {
  for (const n of names) {
    if (i.labels.some((l) => l.toLowerCase() === n.toLowerCase())) continue;
    i.labels.push(n);
    c.state.touch(i);
    issuesEvent(c, r, i, 'labeled', { label: c.state.labelJson(r, n) });
  }
}
export function removeLabel(c: RestContext, r: FakeRepo, i: FakeIssue, name: string): void {
  const at = i.labels.findIndex((l) => l.toLowerCase() === name.toLowerCase());
  if (at < 0) throw new HttpError(404, 'Label does not exist');
  i.labels.splice(at, 1);
  c.state.touch(i);
  issuesEvent(c, r, i, 'unlabeled', { label: c.state.labelJson(r, name) });
}

export const CLOSES = /\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)/gi;
