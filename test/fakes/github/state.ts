// The fake GitHub's memory: repositories with issues (pull requests share their numbers),
// labels, comments, reviews, check runs, statuses and collaborators; users and tokens;
// a clock tests can move. Plus the JSON shapes GitHub sends for each, completed from
// GitHub's OpenAPI schemas so every required field is there.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { complete, schemaOf, type Filler } from './openapi.js';

export type Permission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

export interface FakeUser { login: string; id: number; type: 'User' | 'Bot' }
export interface FakePull { head: string; base: string; headSha: string; merged: boolean; mergedAt: Date | null; mergedBy?: string }
export interface FakeIssue {
  number: number; id: number; nodeId: string; title: string; body: string;
  state: 'open' | 'closed'; stateReason: 'completed' | 'not_planned' | 'reopened' | null;
  labels: string[]; user: string; createdAt: Date; updatedAt: Date; closedAt: Date | null; comments: number;
  pull?: FakePull; subIssues: number[];
}
export interface FakeComment { id: number; nodeId: string; issue: number; user: string; body: string; createdAt: Date; updatedAt: Date }
export interface FakeReview { id: number; pull: number; user: string; state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED'; body: string; commitId: string; submittedAt: Date }
export interface FakeCheckRun {
  id: number; sha: string; name: string; status: 'queued' | 'in_progress' | 'completed';
  conclusion: 'success' | 'failure' | 'neutral' | 'cancelled' | 'timed_out' | 'action_required' | 'skipped' | null;
  output: { title: string; summary: string; text: string }; startedAt: Date; completedAt: Date | null;
}
export interface FakeStatus { id: number; sha: string; state: 'error' | 'failure' | 'pending' | 'success'; context: string; description: string; targetUrl: string; createdAt: Date }
export interface FakeLabel { id: number; nodeId: string; name: string; color: string; description: string | null }
export interface FakeRepo {
  owner: string; name: string; id: number; nodeId: string; defaultBranch: string; createdAt: Date;
  issues: Map<number, FakeIssue>; labels: Map<string, FakeLabel>; comments: FakeComment[]; reviews: FakeReview[];
  checkRuns: FakeCheckRun[]; statuses: FakeStatus[]; collaborators: Map<string, Permission>;
  /** A bare git repository standing in for the GitHub side of the project's remote (branches, SHAs). */
  gitDir?: string;
  branches: Map<string, string>;
}

export class FakeClock {
  private offset = 0;
  now(): Date { return new Date(Date.now() + this.offset); }
  advance(ms: number): void { this.offset += ms; }
}

export class GitHubState {
  readonly clock = new FakeClock();
  readonly repos = new Map<string, FakeRepo>();
  readonly users = new Map<string, FakeUser>();
  /** token -> login (and an expiry for installation tokens). */
  readonly tokens = new Map<string, { login: string; expiresAt?: Date; scopes: string }>();
  private seq = 1000;
  readonly filler: Filler;

  constructor(readonly baseUrl: () => string) {
    this.filler = { baseUrl: 'https://github.com', now: () => this.clock.now(), nextId: () => this.nextId() };
  }

  nextId(): number { return ++this.seq; }

  user(login: string, type: FakeUser['type'] = 'User'): FakeUser {
    let u = this.users.get(login);
    if (!u) { u = { login, id: this.nextId(), type }; this.users.set(login, u); }
    return u;
  }

  repo(fullName: string): FakeRepo | undefined { return this.repos.get(fullName.toLowerCase()); }

  addRepo(fullName: string, opts: { defaultBranch?: string; gitDir?: string } = {}): FakeRepo {
    const [owner, name] = fullName.split('/');
    this.user(owner);
    const r: FakeRepo = {
      owner, name, id: this.nextId(), nodeId: nodeId('R', this.seq), defaultBranch: opts.defaultBranch ?? 'main', createdAt: this.clock.now(),
      issues: new Map(), labels: new Map(), comments: [], reviews: [], checkRuns: [], statuses: [],
      collaborators: new Map([[owner, 'admin']]), gitDir: opts.gitDir, branches: new Map(),
    };
    this.repos.set(fullName.toLowerCase(), r);
    return r;
  }

  ensureLabel(r: FakeRepo, name: string): FakeLabel {
    let l = r.labels.get(name.toLowerCase());
    if (!l) {
      l = { id: this.nextId(), nodeId: nodeId('LA', this.seq), name, color: 'ededed', description: null };
      r.labels.set(name.toLowerCase(), l);
    }
    return l;
  }

  newIssue(r: FakeRepo, fields: { title: string; body?: string; labels?: string[]; user: string; pull?: FakePull }): FakeIssue {
    const now = this.clock.now();
    const number = Math.max(0, ...r.issues.keys()) + 1;
    for (const l of fields.labels ?? []) this.ensureLabel(r, l);
    const issue: FakeIssue = {
      number, id: this.nextId(), nodeId: nodeId(fields.pull ? 'PR' : 'I', this.seq), title: fields.title, body: fields.body ?? '',
      state: 'open', stateReason: null, labels: [...(fields.labels ?? [])], user: fields.user,
      createdAt: now, updatedAt: now, closedAt: null, comments: 0, pull: fields.pull, subIssues: [],
    };
    this.user(fields.user);
    r.issues.set(number, issue);
    return issue;
  }

  touch(i: FakeIssue): void { i.updatedAt = this.clock.now(); }

  /** The SHA a branch points at on the GitHub side (from the bare repository when there is one). */
  branchSha(r: FakeRepo, branch: string): string | undefined {
    if (r.gitDir) {
      try {
        return execFileSync('git', ['--git-dir', r.gitDir, 'rev-parse', '--verify', '-q', `refs/heads/${branch}`], { encoding: 'utf8' }).trim() || undefined;
      } catch { return undefined; }
    }
    return r.branches.get(branch);
  }

  deleteBranch(r: FakeRepo, branch: string): boolean {
    if (!this.branchSha(r, branch)) return false;
    if (r.gitDir) execFileSync('git', ['--git-dir', r.gitDir, 'update-ref', '-d', `refs/heads/${branch}`]);
    else r.branches.delete(branch);
    return true;
  }

  // ---- JSON as GitHub sends it

  private url(path: string): string { return `${this.baseUrl()}${path}`; }

  userJson(login: string): any {
    const u = this.user(login);
    return complete(schemaOf('simple-user'), {
      login: u.login, id: u.id, node_id: nodeId('U', u.id), type: u.type, site_admin: false,
      url: this.url(`/users/${encodeURIComponent(u.login)}`), html_url: `https://github.com/${encodeURIComponent(u.login)}`, gravatar_id: '',
    }, this.filler);
  }

  repoJson(r: FakeRepo): any {
    const full = `${r.owner}/${r.name}`;
    return complete(schemaOf('repository'), {
      id: r.id, node_id: r.nodeId, name: r.name, full_name: full, owner: this.userJson(r.owner), private: false,
      url: this.url(`/repos/${full}`), html_url: `https://github.com/${full}`, default_branch: r.defaultBranch,
      description: null, fork: false, homepage: null, language: null, mirror_url: null, license: null,
      open_issues_count: [...r.issues.values()].filter((i) => i.state === 'open').length,
      has_issues: true, has_projects: true, archived: false, disabled: false,
      created_at: r.createdAt.toISOString(), updated_at: r.createdAt.toISOString(), pushed_at: r.createdAt.toISOString(),
      clone_url: `https://github.com/${full}.git`, git_url: `git://github.com/${full}.git`, ssh_url: `git@github.com:${full}.git`, svn_url: `https://github.com/${full}`,
    }, this.filler);
  }

  labelJson(r: FakeRepo, name: string): any {
    const l = this.ensureLabel(r, name);
    return { id: l.id, node_id: l.nodeId, url: this.url(`/repos/${r.owner}/${r.name}/labels/${encodeURIComponent(l.name)}`), name: l.name, description: l.description, color: l.color, default: false };
  }

  issueJson(r: FakeRepo, i: FakeIssue): any {
    const base = `/repos/${r.owner}/${r.name}/issues/${i.number}`;
    return complete(schemaOf('issue'), {
      id: i.id, node_id: i.nodeId, number: i.number, title: i.title, body: i.body, state: i.state, state_reason: i.stateReason,
      user: this.userJson(i.user), labels: i.labels.map((l) => this.labelJson(r, l)), assignee: null, assignees: [], milestone: null,
      locked: false, comments: i.comments, closed_at: i.closedAt?.toISOString() ?? null,
      created_at: i.createdAt.toISOString(), updated_at: i.updatedAt.toISOString(), author_association: 'OWNER',
      url: this.url(base), repository_url: this.url(`/repos/${r.owner}/${r.name}`), html_url: `https://github.com/${r.owner}/${r.name}/issues/${i.number}`,
      ...(i.pull ? { pull_request: { url: this.url(`/repos/${r.owner}/${r.name}/pulls/${i.number}`), html_url: null, diff_url: null, patch_url: null, merged_at: i.pull.mergedAt?.toISOString() ?? null } } : {}),
    }, this.filler);
  }

  commentJson(r: FakeRepo, c: FakeComment): any {
    return complete(schemaOf('issue-comment'), {
      id: c.id, node_id: c.nodeId, body: c.body, user: this.userJson(c.user), author_association: this.association(r, c.user),
      created_at: c.createdAt.toISOString(), updated_at: c.updatedAt.toISOString(),
      url: this.url(`/repos/${r.owner}/${r.name}/issues/comments/${c.id}`), issue_url: this.url(`/repos/${r.owner}/${r.name}/issues/${c.issue}`),
      html_url: `https://github.com/${r.owner}/${r.name}/issues/${c.issue}#issuecomment-${c.id}`,
    }, this.filler);
  }

  association(r: FakeRepo, login: string): string {
    if (login === r.owner) return 'OWNER';
    const p = r.collaborators.get(login);
    return p && p !== 'none' ? 'COLLABORATOR' : 'NONE';
  }

  pullJson(r: FakeRepo, i: FakeIssue, simple = false): any {
    const p = i.pull!;
    const repo = this.repoJson(r);
    const ref = (branch: string, sha: string) => ({ label: `${r.owner}:${branch}`, ref: branch, sha, user: this.userJson(r.owner), repo });
    const link = (h: string) => ({ href: h });
    const base = this.url(`/repos/${r.owner}/${r.name}/pulls/${i.number}`);
    return complete(schemaOf(simple ? 'pull-request-simple' : 'pull-request'), {
      id: i.id, node_id: i.nodeId, number: i.number, title: i.title, body: i.body, state: i.state, locked: false, draft: false,
      user: this.userJson(i.user), labels: i.labels.map((l) => this.labelJson(r, l)), assignee: null, milestone: null, auto_merge: null,
      head: ref(p.head, p.headSha), base: ref(p.base, this.branchSha(r, p.base) ?? '0'.repeat(40)),
      merged: p.merged, merged_at: p.mergedAt?.toISOString() ?? null, merged_by: p.mergedBy ? this.userJson(p.mergedBy) : null,
      merge_commit_sha: null, mergeable: i.state === 'open' ? true : null, mergeable_state: 'clean', maintainer_can_modify: false,
      closed_at: i.closedAt?.toISOString() ?? null, created_at: i.createdAt.toISOString(), updated_at: i.updatedAt.toISOString(),
      author_association: 'OWNER', url: base, html_url: `https://github.com/${r.owner}/${r.name}/pull/${i.number}`,
      issue_url: this.url(`/repos/${r.owner}/${r.name}/issues/${i.number}`),
      _links: { self: link(base), html: link(base), issue: link(base), comments: link(base), review_comments: link(base), review_comment: link(base), commits: link(base), statuses: link(base) },
    }, this.filler);
  }

  reviewJson(r: FakeRepo, v: FakeReview): any {
    const link = { href: this.url(`/repos/${r.owner}/${r.name}/pulls/${v.pull}`) };
    return complete(schemaOf('pull-request-review'), {
      id: v.id, node_id: nodeId('PRR', v.id), user: this.userJson(v.user), body: v.body, state: v.state, commit_id: v.commitId,
      submitted_at: v.submittedAt.toISOString(), author_association: this.association(r, v.user),
      html_url: `https://github.com/${r.owner}/${r.name}/pull/${v.pull}#pullrequestreview-${v.id}`, pull_request_url: link.href,
      _links: { html: link, pull_request: link },
    }, this.filler);
  }

  checkRunJson(r: FakeRepo, c: FakeCheckRun): any {
    const pulls = [...r.issues.values()].filter((i) => i.pull && i.pull.headSha === c.sha && i.state === 'open');
    return complete(schemaOf('check-run'), {
      id: c.id, node_id: nodeId('CR', c.id), head_sha: c.sha, name: c.name, status: c.status, conclusion: c.conclusion,
      started_at: c.startedAt.toISOString(), completed_at: c.completedAt?.toISOString() ?? null, external_id: '', details_url: `https://ci.example.com/runs/${c.id}`,
      output: { title: c.output.title, summary: c.output.summary, text: c.output.text, annotations_count: 0, annotations_url: this.url(`/repos/${r.owner}/${r.name}/check-runs/${c.id}/annotations`) },
      check_suite: { id: c.id }, app: null,
      pull_requests: pulls.map((i) => ({ id: i.id, number: i.number, url: this.url(`/repos/${r.owner}/${r.name}/pulls/${i.number}`),
        head: { ref: i.pull!.head, sha: i.pull!.headSha, repo: { id: r.id, name: r.name, url: this.url(`/repos/${r.owner}/${r.name}`) } },
        base: { ref: i.pull!.base, sha: '0'.repeat(40), repo: { id: r.id, name: r.name, url: this.url(`/repos/${r.owner}/${r.name}`) } } })),
      url: this.url(`/repos/${r.owner}/${r.name}/check-runs/${c.id}`), html_url: `https://github.com/${r.owner}/${r.name}/runs/${c.id}`,
    }, this.filler);
  }

  statusJson(s: FakeStatus): any {
    return complete(schemaOf('simple-commit-status'), {
      id: s.id, node_id: nodeId('SC', s.id), state: s.state, context: s.context, description: s.description, target_url: s.targetUrl || null,
      avatar_url: null, created_at: s.createdAt.toISOString(), updated_at: s.createdAt.toISOString(),
    }, this.filler);
  }
}

export function nodeId(prefix: string, n: number): string {
  return `${prefix}_${Buffer.from(`fake:${prefix}:${n}`).toString('base64url')}`;
}

export function etagOf(body: string): string {
  return `W/"${createHash('sha1').update(body).digest('hex')}"`;
}
