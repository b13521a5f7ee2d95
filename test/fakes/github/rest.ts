// The fake GitHub's REST operations, keyed by GitHub's operationId. Each behaves as
// GitHub documents it (status codes, pagination, side effects such as a merge closing
// the issues its PR body names); changes made through the API fire webhooks like GitHub's.
import { complete, schemaOf } from './openapi.js';
import { nodeId, type FakeIssue, type FakeRepo, type GitHubState, type Permission } from './state.js';

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
type Handler = (c: RestContext) => RestResult;

const PER_PAGE_DEFAULT = 30;

function repoOf(c: RestContext): FakeRepo {
  const r = c.state.repo(`${c.params.owner}/${c.params.repo}`);
  if (!r) throw new HttpError(404, 'Not Found');
  return r;
}
function issueOf(c: RestContext, r: FakeRepo, n = Number(c.params.issue_number ?? c.params.pull_number)): FakeIssue {
  const i = r.issues.get(n);
  if (!i) throw new HttpError(404, 'Not Found');
  return i;
}
function pullOf(c: RestContext, r: FakeRepo): FakeIssue {
  const i = issueOf(c, r);
  if (!i.pull) throw new HttpError(404, 'Not Found');
  return i;
}
function requirePush(c: RestContext, r: FakeRepo): void {
  if (c.appId !== undefined) return; // the app is installed with write permissions
  const p = r.collaborators.get(c.login);
  if (!p || !['admin', 'maintain', 'write'].includes(p)) throw new HttpError(403, 'Must have push access to repository');
}

/** One page of a list, with GitHub's Link header. */
function page<T>(c: RestContext, items: T[], path: string): { items: T[]; headers: Record<string, string> } {
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

function labelNames(raw: unknown): string[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((l) => (typeof l === 'string' ? l : (l as { name: string }).name));
}

function issuesEvent(c: RestContext, r: FakeRepo, i: FakeIssue, action: string, extra: Record<string, unknown> = {}): void {
  c.emit(i.pull ? 'pull_request' : 'issues', action, i.pull
    ? { number: i.number, pull_request: c.state.pullJson(r, i), ...extra }
    : { issue: c.state.issueJson(r, i), ...extra }, c.login || 'orch-app[bot]');
}

function setState(c: RestContext, r: FakeRepo, i: FakeIssue, state: 'open' | 'closed', reason?: string | null): void {
  if (i.state === state) return;
  i.state = state;
  i.closedAt = state === 'closed' ? c.state.clock.now() : null;
  i.stateReason = state === 'closed' ? (reason === 'not_planned' ? 'not_planned' : 'completed') : 'reopened';
  c.state.touch(i);
  issuesEvent(c, r, i, state === 'closed' ? 'closed' : 'reopened');
}

function addLabels(c: RestContext, r: FakeRepo, i: FakeIssue, names: string[]): void {
  for (const n of names) {
    if (i.labels.some((l) => l.toLowerCase() === n.toLowerCase())) continue;
    i.labels.push(n);
    c.state.touch(i);
    issuesEvent(c, r, i, 'labeled', { label: c.state.labelJson(r, n) });
  }
}
function removeLabel(c: RestContext, r: FakeRepo, i: FakeIssue, name: string): void {
  const at = i.labels.findIndex((l) => l.toLowerCase() === name.toLowerCase());
  if (at < 0) throw new HttpError(404, 'Label does not exist');
  i.labels.splice(at, 1);
  c.state.touch(i);
  issuesEvent(c, r, i, 'unlabeled', { label: c.state.labelJson(r, name) });
}

const CLOSES = /\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)/gi;

export const REST: Record<string, Handler> = {
  'users/get-authenticated': (c) => {
    if (!c.login) throw new HttpError(403, 'Resource not accessible by integration');
    const u = c.state.user(c.login);
    return { status: 200, body: complete(schemaOf('private-user'), { ...c.state.userJson(c.login), name: u.login, email: null, bio: null, blog: '', company: null, location: null, hireable: null, twitter_username: null, created_at: new Date(0).toISOString(), updated_at: new Date(0).toISOString() }, c.state.filler) };
  },
  'rate-limit/get': (c) => {
    const core = { limit: c.rate.limit, remaining: c.rate.remaining, used: c.rate.limit - c.rate.remaining, reset: Math.ceil(c.rate.resetAt / 1000), resource: 'core' };
    return { status: 200, body: complete(schemaOf('rate-limit-overview'), { rate: core, resources: { core, search: { ...core, limit: 30, remaining: 30, used: 0, resource: 'search' }, graphql: { ...core, resource: 'graphql' } } }, c.state.filler) };
  },
  'repos/get': (c) => ({ status: 200, body: complete(schemaOf('full-repository'), { ...c.state.repoJson(repoOf(c)), has_discussions: false, network_count: 0, subscribers_count: 0 }, c.state.filler) }),
  'apps/get-authenticated': (c) => {
    if (c.appId === undefined || c.login) throw new HttpError(401, 'A JSON web token could not be decoded');
    return { status: 200, body: complete(schemaOf('integration'), { id: c.appId, slug: 'orch-app', name: 'orch app', owner: c.state.userJson('orch-app-owner'), description: null, external_url: 'https://example.com', html_url: 'https://github.com/apps/orch-app', permissions: { issues: 'write' }, events: ['issues'] }, c.state.filler) };
  },
  'apps/get-repo-installation': (c) => {
    repoOf(c);
    if (!c.installation || c.appId === undefined) throw new HttpError(404, 'Not Found');
    return { status: 200, body: complete(schemaOf('installation'), { id: c.installation.id, app_id: c.appId, target_type: 'Organization', account: c.state.userJson(c.params.owner), repository_selection: 'all', permissions: { issues: 'write', pull_requests: 'write', contents: 'write', checks: 'read' }, events: ['issues'] }, c.state.filler) };
  },
  'apps/create-installation-access-token': (c) => {
    if (!c.installation || Number(c.params.installation_id) !== c.installation.id) throw new HttpError(404, 'Not Found');
    const t = c.installation.issue();
    return { status: 201, body: { token: t.token, expires_at: t.expiresAt.toISOString(), permissions: { issues: 'write', pull_requests: 'write', contents: 'write', checks: 'read' }, repository_selection: 'all' } };
  },
  'repos/get-collaborator-permission-level': (c) => {
    const r = repoOf(c);
    if (!c.state.users.has(c.params.username)) throw new HttpError(404, 'Not Found');
    const p: Permission = r.collaborators.get(c.params.username) ?? 'read';
    const legacy = p === 'maintain' ? 'write' : p === 'triage' ? 'read' : p;
    const perms = { admin: p === 'admin', maintain: p === 'admin' || p === 'maintain', push: ['admin', 'maintain', 'write'].includes(p), triage: p !== 'read' && p !== 'none', pull: p !== 'none' };
    return { status: 200, body: { permission: legacy, role_name: p, user: complete(schemaOf('nullable-collaborator'), { ...c.state.userJson(c.params.username), role_name: p, permissions: perms }, c.state.filler) } };
  },

  // ---- issues
  'issues/list-for-repo': (c) => {
    const r = repoOf(c);
    const state = c.query.get('state') ?? 'open';
    const since = c.query.get('since') ? new Date(c.query.get('since')!) : undefined;
    const want = (c.query.get('labels') ?? '').split(',').filter(Boolean).map((l) => l.toLowerCase());
    const sort = c.query.get('sort') ?? 'created';
    const dir = c.query.get('direction') ?? 'desc';
    let list = [...r.issues.values()].filter((i) => (state === 'all' || i.state === state) && (!since || i.updatedAt >= since)
      && want.every((w) => i.labels.some((l) => l.toLowerCase() === w)));
    const key = (i: FakeIssue) => (sort === 'updated' ? i.updatedAt.getTime() : sort === 'comments' ? i.comments : i.createdAt.getTime()) * 1e6 + i.number;
    list = list.sort((a, b) => (dir === 'asc' ? key(a) - key(b) : key(b) - key(a)));
    const p = page(c, list, `/repos/${r.owner}/${r.name}/issues`);
    return { status: 200, body: p.items.map((i) => c.state.issueJson(r, i)), headers: p.headers };
  },
  'issues/get': (c) => { const r = repoOf(c); return { status: 200, body: c.state.issueJson(r, issueOf(c, r)) }; },
  'issues/create': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    const i = c.state.newIssue(r, { title: c.body.title, body: c.body.body ?? '', labels: labelNames(c.body.labels), user: c.login || 'orch-app[bot]' });
    issuesEvent(c, r, i, 'opened');
    return { status: 201, body: c.state.issueJson(r, i) };
  },
  'issues/update': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    const i = issueOf(c, r);
    let edited = false;
    if (typeof c.body.title === 'string' && c.body.title !== i.title) { i.title = c.body.title; edited = true; }
    if (typeof c.body.body === 'string' && c.body.body !== i.body) { i.body = c.body.body; edited = true; }
    if (edited) { c.state.touch(i); issuesEvent(c, r, i, 'edited', { changes: {} }); }
    if (Array.isArray(c.body.labels)) {
      const next = labelNames(c.body.labels);
      for (const l of [...i.labels]) if (!next.includes(l)) removeLabel(c, r, i, l);
      addLabels(c, r, i, next);
    }
    if (c.body.state === 'open' || c.body.state === 'closed') setState(c, r, i, c.body.state, c.body.state_reason);
    return { status: 200, body: c.state.issueJson(r, i) };
  },
  'issues/add-labels': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    const i = issueOf(c, r);
    const raw = Array.isArray(c.body) ? c.body : c.body?.labels;
    addLabels(c, r, i, labelNames(raw));
    return { status: 200, body: i.labels.map((l) => c.state.labelJson(r, l)) };
  },
  'issues/remove-label': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    const i = issueOf(c, r);
    removeLabel(c, r, i, c.params.name);
    return { status: 200, body: i.labels.map((l) => c.state.labelJson(r, l)) };
  },
  'issues/list-labels-on-issue': (c) => { const r = repoOf(c); const i = issueOf(c, r); return { status: 200, body: i.labels.map((l) => c.state.labelJson(r, l)) }; },
  'issues/list-labels-for-repo': (c) => { const r = repoOf(c); const p = page(c, [...r.labels.values()], `/repos/${r.owner}/${r.name}/labels`); return { status: 200, body: p.items.map((l) => c.state.labelJson(r, l.name)), headers: p.headers }; },
  'issues/create-label': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    if (r.labels.has(String(c.body.name).toLowerCase())) throw new HttpError(422, 'Validation Failed', { errors: [{ resource: 'Label', code: 'already_exists', field: 'name' }] });
    const l = c.state.ensureLabel(r, c.body.name);
    if (c.body.color) l.color = c.body.color;
    if (c.body.description) l.description = c.body.description;
    return { status: 201, body: c.state.labelJson(r, l.name) };
  },
  'issues/create-comment': (c) => {
    const r = repoOf(c);
    const i = issueOf(c, r);
    const now = c.state.clock.now();
    const cm = { id: c.state.nextId(), nodeId: '', issue: i.number, user: c.login || 'orch-app[bot]', body: c.body.body, createdAt: now, updatedAt: now };
    cm.nodeId = nodeId('IC', cm.id);
    r.comments.push(cm);
    i.comments += 1;
    c.state.touch(i);
    c.emit('issue_comment', 'created', { issue: c.state.issueJson(r, i), comment: c.state.commentJson(r, cm) }, cm.user);
    return { status: 201, body: c.state.commentJson(r, cm) };
  },
  'issues/list-comments': (c) => {
    const r = repoOf(c);
    const i = issueOf(c, r);
    const p = page(c, r.comments.filter((x) => x.issue === i.number), `/repos/${r.owner}/${r.name}/issues/${i.number}/comments`);
    return { status: 200, body: p.items.map((x) => c.state.commentJson(r, x)), headers: p.headers };
  },
  'issues/list-comments-for-repo': (c) => {
    const r = repoOf(c);
    const since = c.query.get('since') ? new Date(c.query.get('since')!) : undefined;
    const dir = c.query.get('direction') ?? 'asc';
    const list = r.comments.filter((x) => !since || x.updatedAt >= since).sort((a, b) => (dir === 'asc' ? 1 : -1) * (a.updatedAt.getTime() - b.updatedAt.getTime() || a.id - b.id));
    const p = page(c, list, `/repos/${r.owner}/${r.name}/issues/comments`);
    return { status: 200, body: p.items.map((x) => c.state.commentJson(r, x)), headers: p.headers };
  },

  // ---- pulls
  'pulls/create': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    const head = String(c.body.head).replace(/^[^:]+:/, '');
    const sha = c.state.branchSha(r, head);
    if (!sha) throw new HttpError(422, 'Validation Failed', { errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }] });
    if ([...r.issues.values()].some((i) => i.pull?.head === head && i.state === 'open')) {
      throw new HttpError(422, 'Validation Failed', { errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${r.owner}:${head}.` }] });
    }
    const i = c.state.newIssue(r, { title: c.body.title, body: c.body.body ?? '', user: c.login || 'orch-app[bot]', pull: { head, base: c.body.base, headSha: sha, merged: false, mergedAt: null } });
    issuesEvent(c, r, i, 'opened');
    return { status: 201, body: c.state.pullJson(r, i) };
  },
  'pulls/list': (c) => {
    const r = repoOf(c);
    const state = c.query.get('state') ?? 'open';
    const head = c.query.get('head')?.replace(/^[^:]+:/, '');
    const list = [...r.issues.values()].filter((i) => i.pull && (state === 'all' || i.state === state) && (!head || i.pull.head === head)).sort((a, b) => b.number - a.number);
    const p = page(c, list, `/repos/${r.owner}/${r.name}/pulls`);
    return { status: 200, body: p.items.map((i) => c.state.pullJson(r, i, true)), headers: p.headers };
  },
  'pulls/get': (c) => { const r = repoOf(c); const i = pullOf(c, r); i.pull!.headSha = c.state.branchSha(r, i.pull!.head) ?? i.pull!.headSha; return { status: 200, body: c.state.pullJson(r, i) }; },
  'pulls/update': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    const i = pullOf(c, r);
    if (typeof c.body.title === 'string') i.title = c.body.title;
    if (typeof c.body.body === 'string') i.body = c.body.body;
    c.state.touch(i);
    issuesEvent(c, r, i, 'edited', { changes: {} });
    return { status: 200, body: c.state.pullJson(r, i) };
  },
  'pulls/merge': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    const i = pullOf(c, r);
    if (i.pull!.merged || i.state === 'closed') throw new HttpError(405, 'Pull Request is not mergeable');
    if (c.body?.sha && c.body.sha !== i.pull!.headSha) throw new HttpError(409, 'Head branch was modified. Review and try the merge again.');
    i.pull!.merged = true;
    i.pull!.mergedAt = c.state.clock.now();
    i.pull!.mergedBy = c.login || 'orch-app[bot]';
    setState(c, r, i, 'closed');
    for (const m of i.body.matchAll(CLOSES)) {
      const target = r.issues.get(Number(m[1]));
      if (target && !target.pull) setState(c, r, target, 'closed', 'completed');
    }
    return { status: 200, body: { sha: 'f'.repeat(40), merged: true, message: 'Pull Request successfully merged' } };
  },
  'pulls/list-reviews': (c) => {
    const r = repoOf(c);
    const i = pullOf(c, r);
    const p = page(c, r.reviews.filter((v) => v.pull === i.number), `/repos/${r.owner}/${r.name}/pulls/${i.number}/reviews`);
    return { status: 200, body: p.items.map((v) => c.state.reviewJson(r, v)), headers: p.headers };
  },
  'pulls/create-review': (c) => {
    const r = repoOf(c);
    const i = pullOf(c, r);
    const state = c.body.event === 'APPROVE' ? 'APPROVED' : c.body.event === 'REQUEST_CHANGES' ? 'CHANGES_REQUESTED' : 'COMMENTED';
    const v = { id: c.state.nextId(), pull: i.number, user: c.login || 'orch-app[bot]', state, body: c.body.body ?? '', commitId: i.pull!.headSha, submittedAt: c.state.clock.now() } as const;
    r.reviews.push({ ...v });
    c.emit('pull_request_review', 'submitted', { review: c.state.reviewJson(r, v), pull_request: c.state.pullJson(r, i, true) }, v.user);
    return { status: 200, body: c.state.reviewJson(r, v) };
  },
  'git/delete-ref': (c) => {
    const r = repoOf(c);
    requirePush(c, r);
    const ref = c.params.ref.replace(/^refs\//, '');
    if (!ref.startsWith('heads/') || !c.state.deleteBranch(r, ref.slice('heads/'.length))) throw new HttpError(422, 'Reference does not exist');
    return { status: 204 };
  },

  // ---- checks and statuses
  'checks/list-for-ref': (c) => {
    const r = repoOf(c);
    const sha = c.state.branchSha(r, c.params.ref) ?? c.params.ref;
    let runs = r.checkRuns.filter((x) => x.sha === sha);
    if ((c.query.get('filter') ?? 'latest') === 'latest') runs = runs.filter((x) => !runs.some((y) => y.name === x.name && y.id > x.id));
    const p = page(c, runs, `/repos/${r.owner}/${r.name}/commits/${c.params.ref}/check-runs`);
    return { status: 200, body: { total_count: runs.length, check_runs: p.items.map((x) => c.state.checkRunJson(r, x)) }, headers: p.headers };
  },
  'repos/get-combined-status-for-ref': (c) => {
    const r = repoOf(c);
    const sha = c.state.branchSha(r, c.params.ref) ?? c.params.ref;
    const all = r.statuses.filter((s) => s.sha === sha);
    const latest = all.filter((s) => !all.some((t) => t.context === s.context && t.id > s.id));
    const state = latest.some((s) => s.state === 'failure' || s.state === 'error') ? 'failure' : latest.some((s) => s.state === 'pending') || !latest.length ? 'pending' : 'success';
    return { status: 200, body: { state, sha, total_count: latest.length, statuses: latest.map((s) => c.state.statusJson(s)), repository: complete(schemaOf('minimal-repository'), { ...c.state.repoJson(r) }, c.state.filler), commit_url: `${c.state.baseUrl()}/repos/${r.owner}/${r.name}/commits/${sha}`, url: `${c.state.baseUrl()}/repos/${r.owner}/${r.name}/commits/${sha}/status` } };
  },
};
