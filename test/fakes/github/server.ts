// A fake GitHub on loopback for tests: REST (routed and refereed by GitHub's OpenAPI
// description), GraphQL (graphql-js over GitHub's schema), webhooks signed with HMAC
// (x-hub-signature-256), ETags with free 304s, rate-limit headers and a request count,
// tokens and a GitHub App, and faults (secondary rate limits, 502s) on demand.
// Every request orch sends and every response or webhook the fake makes is checked;
// what does not fit GitHub's description lands in `violations` (tests assert it empty).
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkRequest, checkResponse, checkWebhook, complete, matchOperation, webhookSchemaOf } from './openapi.js';
import { authenticate, type Caller } from './auth.js';
import { GraphQLFake } from './graphql.js';
import { HttpError, REST, type RestContext, type RestResult } from './rest.js';
import { etagOf, GitHubState, nodeId, type FakeCheckRun, type FakeIssue, type FakeRepo, type Permission } from './state.js';

export interface RecordedRequest { method: string; path: string; operation: string; status: number; counted: boolean; login: string }
export interface Fault { status: 403 | 429 | 502 | 500; times: number; secondary?: boolean; retryAfterSeconds?: number; operation?: string }
export interface Delivery { event: string; action?: string; status: number; id: string }

const HOUR = 3_600_000;

export class FakeGitHub {
  readonly state: GitHubState;
  readonly graphql: GraphQLFake;
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  readonly deliveries: Delivery[] = [];
  /** Every label put on or taken off an issue, in order. */
  readonly labelLog: Array<{ issue: number; action: 'labeled' | 'unlabeled'; label: string }> = [];
  readonly rate = { limit: 5000, remaining: 5000, resetAt: 0 };
  private faults: Fault[] = [];
  private server!: Server;
  url = '';
  private webhookTarget: { url: string; secret: string } | undefined;
  private deliveryChain: Promise<void> = Promise.resolve();
  private app: { id: number; publicKey: string; privateKey: string; installationId: number; tokenTtlMs: number } | undefined;
  /** Suppress webhook delivery (a repository without a webhook, or a test of polling alone). */
  webhooksOn = true;

  constructor() {
    this.state = new GitHubState(() => this.url);
    this.graphql = new GraphQLFake(this.state);
  }

  static async start(): Promise<FakeGitHub> {
    const f = new FakeGitHub();
    f.server = createServer((req, res) => {
      f.handle(req, res).catch((err) => {
        f.violations.push(`fake GitHub crashed on ${req.method} ${req.url}: ${(err as Error).stack}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    await new Promise<void>((r) => f.server.listen(0, '127.0.0.1', () => r()));
    f.url = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
    return f;
  }

  async close(): Promise<void> {
    await this.deliveryChain;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // ---- set-up

  token(login: string, scopes = 'repo, read:org, project'): string {
    const t = `ghp_fake${randomUUID().replace(/-/g, '')}`;
    this.state.user(login);
    this.state.tokens.set(t, { login, scopes });
    return t;
  }

  addRepo(fullName: string, opts: { gitDir?: string; defaultBranch?: string } = {}): FakeRepo { return this.state.addRepo(fullName, opts); }

  collaborator(fullName: string, login: string, permission: Permission): void {
    this.state.user(login);
    this.repo(fullName).collaborators.set(login, permission);
  }

  /** A GitHub App installed on every repository; returns what orch's config needs. */
  installApp(tokenTtlMs = HOUR): { appId: number; privateKeyPem: string; installationId: number } {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } });
    this.app = { id: 4242, publicKey, privateKey, installationId: 777, tokenTtlMs };
    this.state.user('orch-app[bot]', 'Bot');
    return { appId: this.app.id, privateKeyPem: privateKey, installationId: this.app.installationId };
  }

  deliverWebhooksTo(url: string, secret: string): void { this.webhookTarget = { url, secret }; }

  /** The next `times` requests (of `operation`, if given) fail this way. */
  fail(f: Fault): void { this.faults.push({ ...f }); }

  /** GitHub is healthy again. */
  clearFaults(): void { this.faults = []; }

  repo(fullName: string): FakeRepo {
    const r = this.state.repo(fullName);
    if (!r) throw new Error(`fake GitHub has no repository ${fullName}`);
    return r;
  }

  /** Requests that cost rate limit (everything but 304s). */
  get counted(): number { return this.requests.filter((r) => r.counted).length; }

  /** Wait until every webhook queued so far was delivered. */
  async settled(): Promise<void> { let c; do { c = this.deliveryChain; await c; } while (c !== this.deliveryChain); }

  // ---- acting as people on GitHub

  openIssue(fullName: string, f: { title: string; body?: string; labels?: string[]; user?: string }): FakeIssue {
    const r = this.repo(fullName);
    const i = this.state.newIssue(r, { ...f, user: f.user ?? r.owner });
    this.emit(r, 'issues', 'opened', { issue: this.state.issueJson(r, i) }, i.user);
    return i;
  }

  editIssue(fullName: string, n: number, f: { title?: string; body?: string; labels?: string[] }, user?: string): void {
    const r = this.repo(fullName);
    const i = r.issues.get(n)!;
    if (f.title !== undefined) i.title = f.title;
    if (f.body !== undefined) i.body = f.body;
    if (f.labels) { for (const l of f.labels) this.state.ensureLabel(r, l); i.labels = [...f.labels]; }
    this.state.touch(i);
    this.emit(r, 'issues', 'edited', { issue: this.state.issueJson(r, i), changes: {} }, user ?? r.owner);
  }

  setIssueState(fullName: string, n: number, state: 'open' | 'closed', user?: string): void {
    const r = this.repo(fullName);
    const i = r.issues.get(n)!;
    i.state = state;
    i.closedAt = state === 'closed' ? this.state.clock.now() : null;
    i.stateReason = state === 'closed' ? 'completed' : 'reopened';
    this.state.touch(i);
    this.emit(r, 'issues', state === 'closed' ? 'closed' : 'reopened', { issue: this.state.issueJson(r, i) }, user ?? r.owner);
  }

  comment(fullName: string, n: number, user: string, body: string): void {
    const r = this.repo(fullName);
    const i = r.issues.get(n)!;
    const now = this.state.clock.now();
    const c = { id: this.state.nextId(), nodeId: '', issue: n, user, body, createdAt: now, updatedAt: now };
    c.nodeId = nodeId('IC', c.id);
    this.state.user(user);
    r.comments.push(c);
    i.comments += 1;
    this.state.touch(i);
    this.emit(r, 'issue_comment', 'created', { issue: this.state.issueJson(r, i), comment: this.state.commentJson(r, c) }, user);
  }

  /** A CI check run finishing on the PR's current head. */
  checkRun(fullName: string, pr: number, f: { name: string; conclusion: FakeCheckRun['conclusion']; text?: string; summary?: string }): FakeCheckRun {
    const r = this.repo(fullName);
    const p = r.issues.get(pr)!.pull!;
    p.headSha = this.state.branchSha(r, p.head) ?? p.headSha;
    const now = this.state.clock.now();
    const run: FakeCheckRun = { id: this.state.nextId(), sha: p.headSha, name: f.name, status: 'completed', conclusion: f.conclusion,
      output: { title: f.name, summary: f.summary ?? '', text: f.text ?? '' }, startedAt: now, completedAt: now };
    r.checkRuns.push(run);
    this.emit(r, 'check_run', 'completed', { check_run: this.state.checkRunJson(r, run) }, 'github-actions[bot]');
    return run;
  }

  review(fullName: string, pr: number, user: string, state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED', body = ''): void {
    const r = this.repo(fullName);
    const i = r.issues.get(pr)!;
    i.pull!.headSha = this.state.branchSha(r, i.pull!.head) ?? i.pull!.headSha;
    const v = { id: this.state.nextId(), pull: pr, user, state, body, commitId: i.pull!.headSha, submittedAt: this.state.clock.now() };
    this.state.user(user);
    r.reviews.push(v);
    this.emit(r, 'pull_request_review', 'submitted', { review: this.state.reviewJson(r, v), pull_request: this.state.pullJson(r, i, true) }, user);
  }

  /** Deliver a webhook signed with the wrong secret (or none); resolves with the HTTP status. */
  async forgeWebhook(event: string, payload: unknown, signature?: string): Promise<number> {
    const body = JSON.stringify(payload);
    const sig = signature ?? `sha256=${createHmac('sha256', 'not-the-secret').update(body).digest('hex')}`;
    const res = await fetch(this.webhookTarget!.url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': randomUUID(), ...(sig ? { 'x-hub-signature-256': sig } : {}) } });
    return res.status;
  }

  // ---- webhooks

  private emit(r: FakeRepo, event: string, action: string | undefined, payload: Record<string, unknown>, sender: string): void {
    const name = action ? `${event.replace(/_/g, '-')}-${action}` : event;
    if (event === 'issues' && (action === 'labeled' || action === 'unlabeled')) {
      this.labelLog.push({ issue: (payload.issue as { number: number }).number, action, label: (payload.label as { name: string }).name });
    }
    const full = complete(webhookSchemaOf(name), { ...(action ? { action } : {}), ...payload, repository: this.state.repoJson(r), sender: this.state.userJson(sender) }, this.state.filler);
    for (const v of checkWebhook(name, full)) this.violations.push(v);
    if (!this.webhooksOn || !this.webhookTarget) return;
    const target = this.webhookTarget;
    const body = JSON.stringify(full);
    const id = randomUUID();
    this.deliveryChain = this.deliveryChain.then(async () => {
      const sig = `sha256=${createHmac('sha256', target.secret).update(body).digest('hex')}`;
      try {
        const res = await fetch(target.url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'user-agent': 'GitHub-Hookshot/fake', 'x-github-event': event, 'x-github-delivery': id, 'x-hub-signature-256': sig } });
        await res.arrayBuffer();
        this.deliveries.push({ event, action, status: res.status, id });
      } catch {
        this.deliveries.push({ event, action, status: 0, id });
      }
    });
  }

  // ---- HTTP

  private auth(req: IncomingMessage): Caller | HttpError {
    return authenticate(req.headers.authorization, this.state, this.app);
  }

  private rateHeaders(resource: string): Record<string, string> {
    const now = this.state.clock.now().getTime();
    if (this.rate.resetAt <= now) { this.rate.resetAt = now + HOUR; this.rate.remaining = this.rate.limit; }
    return {
      'x-ratelimit-limit': String(this.rate.limit), 'x-ratelimit-remaining': String(this.rate.remaining),
      'x-ratelimit-used': String(this.rate.limit - this.rate.remaining), 'x-ratelimit-reset': String(Math.ceil(this.rate.resetAt / 1000)),
      'x-ratelimit-resource': resource,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    let body: any;
    if (raw) { try { body = JSON.parse(raw); } catch { this.violations.push(`${method} ${url.pathname}: body is not JSON`); } }
    const send = (status: number, out: unknown, headers: Record<string, string>, rec: Omit<RecordedRequest, 'status' | 'method' | 'path'>) => {
      this.requests.push({ method, path: url.pathname, status, ...rec });
      const text = out === undefined ? '' : JSON.stringify(out);
      res.writeHead(status, { ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}), ...headers });
      res.end(text);
    };

    const who = this.auth(req);
    if (who instanceof HttpError) { send(who.status, { message: who.message, documentation_url: 'https://docs.github.com/rest' }, {}, { operation: 'auth', counted: false, login: '' }); return; }
    const isGraphql = method === 'POST' && url.pathname === '/graphql';
    const match = isGraphql ? undefined : matchOperation(method, url.pathname);
    const operation = isGraphql ? 'graphql' : match?.op.operationId ?? `${method} ${url.pathname}`;
    if (!isGraphql && !match) {
      this.violations.push(`${method} ${url.pathname}: no such operation in GitHub's REST API`);
      send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }, {}, { operation, counted: false, login: who.login });
      return;
    }
    if (match) for (const v of checkRequest(match, url.searchParams, body)) this.violations.push(v);

    const rh = this.rateHeaders(isGraphql ? 'graphql' : 'core');
    const fault = this.faults.find((f) => !f.operation || f.operation === operation);
    if (fault) {
      if (--fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      this.rate.remaining = Math.max(0, this.rate.remaining - 1);
      const headers: Record<string, string> = { ...rh, ...(fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}) };
      const message = fault.secondary ? 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' : fault.status === 502 ? 'Server Error' : 'API rate limit exceeded';
      send(fault.status, { message, documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' }, headers, { operation, counted: true, login: who.login });
      return;
    }
    if (this.rate.remaining <= 0) {
      send(403, { message: `API rate limit exceeded for user ${who.login}.`, documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' }, { ...rh, 'x-ratelimit-remaining': '0' }, { operation, counted: true, login: who.login });
      return;
    }

    let result: RestResult;
    if (isGraphql) {
      const out = await this.graphql.execute(who.login || 'orch-app[bot]', body);
      this.violations.push(...out.invalid);
      result = { status: 200, body: out.response };
    } else {
      const ctx: RestContext = {
        rate: this.rate, state: this.state, params: match!.params, query: url.searchParams, body, login: who.login, appId: who.appId,
        emit: (event, action, payload, sender) => this.emit(this.state.repo(`${match!.params.owner}/${match!.params.repo}`)!, event, action, payload, sender),
        installation: this.app && {
          id: this.app.installationId, appId: this.app.id, tokenTtlMs: this.app.tokenTtlMs,
          issue: () => {
            const token = `ghs_fake${randomUUID().replace(/-/g, '')}`;
            const expiresAt = new Date(Date.now() + this.app!.tokenTtlMs);
            this.state.tokens.set(token, { login: 'orch-app[bot]', expiresAt, scopes: '' });
            return { token, expiresAt };
          },
        },
      };
      try {
        result = REST[match!.op.operationId]?.(ctx) ?? { status: 501, body: { message: `the fake does not implement ${match!.op.operationId}` } };
        if (result.status === 501) this.violations.push(`fake GitHub: ${match!.op.operationId} not implemented`);
        else for (const v of checkResponse(match!.op, result.status, result.body)) this.violations.push(`fake GitHub sent: ${v}`);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        result = { status: err.status, body: { message: err.message, documentation_url: 'https://docs.github.com/rest', ...err.extra } };
      }
    }

    const text = result.body === undefined ? '' : JSON.stringify(result.body);
    const headers: Record<string, string> = { ...(result.headers ?? {}) };
    if (method === 'GET' && result.status === 200) {
      headers.etag = etagOf(text);
      if (req.headers['if-none-match'] === headers.etag) {
        send(304, undefined, { ...rh, etag: headers.etag }, { operation, counted: false, login: who.login });
        return;
      }
    }
    const free = operation === 'rate-limit/get'; // GitHub does not charge for asking
    if (!free) this.rate.remaining = Math.max(0, this.rate.remaining - 1);
    if (who.login) headers['x-oauth-scopes'] = this.state.tokens.get((req.headers.authorization ?? '').split(/\s+/)[1] ?? '')?.scopes ?? '';
    send(result.status, result.body, { ...headers, ...this.rateHeaders(isGraphql ? 'graphql' : 'core') }, { operation, counted: !free, login: who.login });
  }
}
