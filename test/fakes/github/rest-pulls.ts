// The fake GitHub's pull request, review, branch, check run and status operations, keyed
// by GitHub's operationId; a merge closes the issues its PR body names, as GitHub does.
import { complete, schemaOf } from './openapi.js';
import { CLOSES, HttpError, issuesEvent, page, pullOf, repoOf, requirePush, setState, type Handler } from './rest-common.js';

export const PULLS: Record<string, Handler> = {
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
    // As GitHub: nobody approves or requests changes on their own pull request.
    if (state !== 'COMMENTED' && (c.login || 'orch-app[bot]') === i.user) {
      throw new HttpError(422, 'Unprocessable Entity', { errors: [state === 'APPROVED' ? 'Can not approve your own pull request' : 'Can not request changes on your own pull request'] });
    }
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
