// One repository's GitHub API as orch uses it. Reads that are repeated every poll are
// conditional (If-None-Match): a 304 costs no rate limit, so an idle repository costs
// almost nothing. Lists are read `since` the newest update seen, oldest first.
import type { GitHubClient } from './client.js';
import { isNotModified, statusOf } from './client.js';
import type { IssueView } from './intake.js';
import type { CheckView, ReviewView } from './pr.js';

export interface IssueData extends IssueView { nodeId: string }
export interface CommentData { id: number; issueNumber: number; user: string; userType: string; body: string; updatedAt: string; onPull: boolean }
export interface PullData { number: number; state: 'open' | 'closed'; merged: boolean; headSha: string; headRef: string }

const PAGE = 100;
/** Conditional GETs remembered (PRs, their checks and reviews); the oldest go first. */
const CACHE_ENTRIES = 1000;

export function issueFromApi(i: any): IssueData {
  return {
    number: i.number, title: i.title, body: i.body ?? '', state: i.state, stateReason: i.state_reason ?? null,
    labels: (i.labels ?? []).map((l: any) => (typeof l === 'string' ? l : l.name)).filter(Boolean),
    isPull: !!i.pull_request, updatedAt: i.updated_at, nodeId: i.node_id,
  };
}

export function commentFromApi(c: any): CommentData {
  const m = /\/issues\/(\d+)$/.exec(c.issue_url ?? '');
  return { id: c.id, issueNumber: m ? Number(m[1]) : 0, user: c.user?.login ?? '', userType: c.user?.type ?? '', body: c.body ?? '', updatedAt: c.updated_at, onPull: false };
}

export class GitHubRepo {
  readonly owner: string;
  readonly name: string;
  /** Conditional GET cache: request key -> ETag and the data it named. */
  private cache = new Map<string, { etag: string; data: unknown }>();

  constructor(private readonly gh: GitHubClient, readonly fullName: string) {
    [this.owner, this.name] = fullName.split('/');
  }

  private get rest() { return this.gh.rest; }
  private get r() { return { owner: this.owner, repo: this.name }; }

  /** A GET that answers from the cache on 304. */
  private async cached<T>(key: string, fetch: (headers: Record<string, string>) => Promise<{ data: T; headers: Record<string, unknown> }>): Promise<T> {
    const hit = this.cache.get(key);
    try {
      const res = await fetch(hit ? { 'if-none-match': hit.etag } : {});
      const etag = res.headers.etag;
      if (typeof etag === 'string') {
        this.cache.delete(key); // re-insert: the map's order is least recently refreshed first
        this.cache.set(key, { etag, data: res.data });
        if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
      }
      return res.data;
    } catch (err) {
      if (isNotModified(err) && hit) return hit.data as T;
      throw err;
    }
  }

  /**
   * Issues updated at or after `since` (all when empty), oldest first. With the ETag of the
   * last first page, an unchanged repository answers 304: `notModified`.
   */
  async issuesSince(since: string, etag: string): Promise<{ notModified: true } | { notModified: false; issues: IssueData[]; etag: string }> {
    return this.listSince(since, etag, (page, headers) => this.rest.issues.listForRepo({ ...this.r, state: 'all', sort: 'updated', direction: 'asc', per_page: PAGE, page, ...(since ? { since } : {}), headers }), issueFromApi);
  }

  async commentsSince(since: string, etag: string): Promise<{ notModified: true } | { notModified: false; comments: CommentData[]; etag: string }> {
    const r = await this.listSince(since, etag, (page, headers) => this.rest.issues.listCommentsForRepo({ ...this.r, sort: 'updated', direction: 'asc', per_page: PAGE, page, ...(since ? { since } : {}), headers }), commentFromApi);
    return r.notModified ? r : { notModified: false, comments: r.issues, etag: r.etag };
  }

  private async listSince<T>(since: string, etag: string, get: (page: number, headers: Record<string, string>) => Promise<{ data: unknown[]; headers: Record<string, unknown> }>, map: (x: any) => T): Promise<{ notModified: true } | { notModified: false; issues: T[]; etag: string }> {
    let first;
    try {
      first = await get(1, etag ? { 'if-none-match': etag } : {});
    } catch (err) {
      if (isNotModified(err)) return { notModified: true };
      throw err;
    }
    const out = first.data.map(map);
    for (let page = 2, last = first.data.length; last === PAGE; page++) {
      const next = await get(page, {});
      out.push(...next.data.map(map));
      last = next.data.length;
    }
    return { notModified: false, issues: out, etag: typeof first.headers.etag === 'string' ? first.headers.etag : '' };
  }

  async getIssue(n: number): Promise<IssueData> {
    return issueFromApi((await this.rest.issues.get({ ...this.r, issue_number: n })).data);
  }

  async createIssue(title: string, body: string, labels: string[]): Promise<IssueData> {
    return issueFromApi((await this.rest.issues.create({ ...this.r, title, body, labels })).data);
  }

  /** Link `child` (an issue node id) as a sub-issue of `parent` (GraphQL addSubIssue). */
  async addSubIssue(parent: string, child: string): Promise<void> {
    await this.gh.graphql(`mutation($parent: ID!, $child: ID!) { addSubIssue(input: { issueId: $parent, subIssueId: $child }) { issue { id } subIssue { id } } }`, { parent, child });
  }

  async addLabel(n: number, label: string): Promise<void> {
    await this.rest.issues.addLabels({ ...this.r, issue_number: n, labels: [label] });
  }

  /** Remove a label; one that is already gone is fine. */
  async removeLabel(n: number, label: string): Promise<void> {
    try {
      await this.rest.issues.removeLabel({ ...this.r, issue_number: n, name: label });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  async comment(n: number, body: string): Promise<void> {
    await this.rest.issues.createComment({ ...this.r, issue_number: n, body });
  }

  async setIssueState(n: number, state: 'open' | 'closed'): Promise<void> {
    await this.rest.issues.update({ ...this.r, issue_number: n, state, ...(state === 'closed' ? { state_reason: 'completed' as const } : {}) });
  }

  async permission(user: string): Promise<string> {
    try {
      const { data } = await this.rest.repos.getCollaboratorPermissionLevel({ ...this.r, username: user });
      return data.role_name === 'maintain' ? 'maintain' : data.permission;
    } catch (err) {
      if (statusOf(err) === 404) return 'none';
      throw err;
    }
  }

  async openPullFor(branch: string): Promise<number | undefined> {
    const { data } = await this.rest.pulls.list({ ...this.r, head: `${this.owner}:${branch}`, state: 'open', per_page: 10 });
    return data[0]?.number;
  }

  async createPull(p: { title: string; body: string; head: string; base: string }): Promise<number> {
    return (await this.rest.pulls.create({ ...this.r, ...p })).data.number;
  }

  async updatePull(n: number, p: { title?: string; body?: string }): Promise<void> {
    await this.rest.pulls.update({ ...this.r, pull_number: n, ...p });
  }

  async pull(n: number): Promise<PullData> {
    const d: any = await this.cached(`pull:${n}`, (headers) => this.rest.pulls.get({ ...this.r, pull_number: n, headers }));
    return { number: d.number, state: d.state, merged: !!d.merged, headSha: d.head.sha, headRef: d.head.ref };
  }

  /** Check runs and commit statuses of a commit, as one list of checks. */
  async checks(sha: string): Promise<CheckView[]> {
    const runs: any = await this.cached(`checks:${sha}`, (headers) => this.rest.checks.listForRef({ ...this.r, ref: sha, per_page: 100, headers }));
    const status: any = await this.cached(`status:${sha}`, (headers) => this.rest.repos.getCombinedStatusForRef({ ...this.r, ref: sha, per_page: 100, headers }));
    return [
      ...runs.check_runs.map((c: any) => ({ name: c.name, status: c.status, conclusion: c.conclusion, text: [c.output?.title, c.output?.summary, c.output?.text].filter(Boolean).join('\n') })),
      ...status.statuses.map((s: any) => ({ name: s.context, status: s.state === 'pending' ? 'in_progress' : 'completed', conclusion: s.state === 'success' ? 'success' : s.state === 'pending' ? null : s.state, text: s.description ?? '' })),
    ];
  }

  async reviews(n: number): Promise<ReviewView[]> {
    const d: any = await this.cached(`reviews:${n}`, (headers) => this.rest.pulls.listReviews({ ...this.r, pull_number: n, per_page: 100, headers }));
    return d.map((r: any) => ({ id: r.id, user: r.user?.login ?? '', state: r.state, body: r.body ?? '' }));
  }

  /**
   * Post a review on a PR's head. GitHub refuses APPROVE / REQUEST_CHANGES on a PR by the
   * same account (422): the verdict then goes up as a COMMENT review (orch acts on it itself).
   */
  async createReview(n: number, sha: string, event: 'APPROVE' | 'REQUEST_CHANGES', body: string): Promise<{ id: number; event: string }> {
    try {
      const { data } = await this.rest.pulls.createReview({ ...this.r, pull_number: n, commit_id: sha, event, body });
      return { id: data.id, event };
    } catch (err) {
      if (statusOf(err) !== 422) throw err;
      const { data } = await this.rest.pulls.createReview({ ...this.r, pull_number: n, commit_id: sha, event: 'COMMENT', body });
      return { id: data.id, event: 'COMMENT' };
    }
  }

  async merge(n: number, sha: string, title: string): Promise<void> {
    await this.rest.pulls.merge({ ...this.r, pull_number: n, merge_method: 'squash', sha, commit_title: title });
  }

  async deleteBranch(branch: string): Promise<void> {
    try {
      await this.rest.git.deleteRef({ ...this.r, ref: `heads/${branch}` });
    } catch (err) {
      if (statusOf(err) !== 422 && statusOf(err) !== 404) throw err;
    }
  }
}
