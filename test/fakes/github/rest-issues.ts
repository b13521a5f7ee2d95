// The fake GitHub's user, app, repository and issue operations (labels, comments),
// keyed by GitHub's operationId, behaving as GitHub documents them.
import { complete, schemaOf } from './openapi.js';
import { HttpError, addLabels, issueOf, issuesEvent, labelNames, page, removeLabel, repoOf, requirePush, setState, type Handler } from './rest-common.js';
import { nodeId, type FakeIssue, type Permission } from './state.js';

export const ISSUES: Record<string, Handler> = {
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
};
