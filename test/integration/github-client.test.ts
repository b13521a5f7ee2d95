// orch's GitHub client (real Octokit with the throttling and retry plugins) against the
// fake GitHub: every request and response is checked against GitHub's OpenAPI
// description; conditional reads cost nothing; rate limits and 5xx are waited out.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { GitHubAuthError, resolveAuth } from '../../coordinator/github/auth.js';
import { boardInfo } from '../../coordinator/github/board-sync.js';
import { createClient, withInstallation, type GitHubClient } from '../../coordinator/github/client.js';
import { GitHubRepo } from '../../coordinator/github/repo-api.js';
import { defaultConfig } from '../../runtime/config/index.js';
import { FakeGitHub } from '../fakes/github/server.js';

describe('the GitHub client against the fake GitHub', () => {
  let fake: FakeGitHub;
  let gh: GitHubClient;
  let repo: GitHubRepo;
  let dir: string;

  beforeAll(async () => {
    fake = await FakeGitHub.start();
    fake.addRepo('acme/widgets');
    const token = fake.token('orch-bot');
    fake.collaborator('acme/widgets', 'orch-bot', 'write');
    gh = createClient({ source: 'GH_TOKEN', token }, { apiUrl: fake.url, writeIntervalMs: 0, msPerRetrySecond: 20 });
    repo = new GitHubRepo(gh, 'acme/widgets');
    dir = mkdtempSync(join(tmpdir(), 'orch-gh-client-'));
  });
  afterEach(() => { expect(fake.violations.splice(0)).toEqual([]); });
  afterAll(async () => { await fake?.close(); rmSync(dir, { recursive: true, force: true }); });

  it('lists issues since a time, and an unchanged repository answers 304 without costing rate limit', async () => {
    for (let i = 1; i <= 150; i++) fake.openIssue('acme/widgets', { title: `issue ${i}`, labels: i === 1 ? ['bug'] : [] });
    const before = fake.counted;
    const first = await repo.issuesSince('', '');
    if (first.notModified) throw new Error('expected a list');
    expect(first.issues).toHaveLength(150);
    expect(first.issues[0]).toMatchObject({ number: 1, title: 'issue 1', labels: ['bug'], state: 'open', isPull: false });
    expect(fake.counted - before).toBe(2); // two pages of 100
    const again = await repo.issuesSince('', first.etag);
    expect(again).toEqual({ notModified: true });
    expect(fake.counted - before).toBe(2);
    expect(fake.requests.at(-1)).toMatchObject({ status: 304, counted: false });
    fake.editIssue('acme/widgets', 7, { title: 'issue seven' });
    const changed = await repo.issuesSince('', first.etag);
    expect(changed.notModified).toBe(false);
  });

  it('writes labels and comments as GitHub documents them', async () => {
    await repo.addLabel(1, 'status:new');
    await repo.removeLabel(1, 'status:new');
    await repo.removeLabel(1, 'status:never-there'); // already gone is fine
    await repo.comment(1, 'hello');
    const i = fake.repo('acme/widgets').issues.get(1)!;
    expect(i.labels).toEqual(['bug']);
    expect(fake.repo('acme/widgets').comments.at(-1)!.body).toBe('hello');
    expect(await repo.permission('orch-bot')).toBe('write');
  });

  it('waits out a secondary rate limit (403 + retry-after) and a 502, and the write still lands', async () => {
    fake.fail({ status: 403, secondary: true, retryAfterSeconds: 1, times: 2, operation: 'issues/create-comment' });
    fake.fail({ status: 502, times: 1, operation: 'issues/create-comment' });
    const n = fake.repo('acme/widgets').comments.length;
    await repo.comment(2, 'survives throttling');
    expect(fake.repo('acme/widgets').comments.length).toBe(n + 1);
    const tries = fake.requests.filter((r) => r.operation === 'issues/create-comment').slice(-4).map((r) => r.status);
    expect(tries).toEqual([403, 403, 502, 201]);
  });

  it('waits for the primary rate limit reset when the limit is used up', async () => {
    fake.rate.remaining = 0;
    fake.rate.resetAt = fake.state.clock.now().getTime() + 1000;
    const unscaled = new GitHubRepo(createClient(gh.auth, { apiUrl: fake.url, writeIntervalMs: 0 }), 'acme/widgets');
    const t0 = Date.now();
    const got = await unscaled.getIssue(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(got.number).toBe(3);
    expect(fake.requests.slice(-2).map((r) => r.status)).toEqual([403, 200]);
  });

  it('a request off GitHub\'s description is a violation', async () => {
    await gh.rest.request('GET /repos/{owner}/{repo}/issues', { owner: 'acme', repo: 'widgets', sinse: '2020-01-01' }).catch(() => undefined);
    expect(fake.violations.splice(0)).toEqual(['issues/list-for-repo (GET /repos/{owner}/{repo}/issues): unknown query parameter sinse']);
    await gh.graphql('query { viewer { nonsense } }').catch(() => undefined);
    expect(fake.violations.splice(0)[0]).toContain('Cannot query field "nonsense" on type "User"');
  });

  it('finds a Projects V2 Status field by name over GraphQL', async () => {
    const p = fake.graphql.createProject('acme', 'Roadmap', ['Backlog', 'In Progress', 'Review', 'Done']);
    const info = await boardInfo(gh, p.id);
    expect(info.title).toBe('Roadmap');
    expect(info.status?.options.map((o) => o.name)).toEqual(['Backlog', 'In Progress', 'Review', 'Done']);
  });

  it('picks credentials in order: GH_TOKEN, GITHUB_TOKEN, gh.auth.token, gh auth token', async () => {
    const cfg = defaultConfig();
    const noGh = async () => undefined;
    expect(await resolveAuth({ env: { GH_TOKEN: 'a-token-1', GITHUB_TOKEN: 'b-token-2' }, config: { ...cfg, gh: { ...cfg.gh, auth: { token: 'c-token-3' } } } }, noGh)).toMatchObject({ source: 'GH_TOKEN', token: 'a-token-1' });
    expect(await resolveAuth({ env: { GITHUB_TOKEN: 'b-token-2' }, config: { ...cfg, gh: { ...cfg.gh, auth: { token: 'c-token-3' } } } }, noGh)).toMatchObject({ source: 'GITHUB_TOKEN' });
    expect(await resolveAuth({ env: {}, config: { ...cfg, gh: { ...cfg.gh, auth: { token: 'c-token-3' } } } }, noGh)).toMatchObject({ source: 'gh.auth.token' });
    expect(await resolveAuth({ env: {}, config: cfg }, async () => 'from-gh-cli')).toMatchObject({ source: 'gh auth token', token: 'from-gh-cli' });
    await expect(resolveAuth({ env: {}, config: { ...cfg, gh: { ...cfg.gh, allow_gh_fallback: false } } }, async () => 'unused')).rejects.toThrow(GitHubAuthError);
    await expect(resolveAuth({ env: {}, config: cfg }, noGh)).rejects.toThrow(/no GitHub credentials.*gh auth login/);
  });

  it('as a GitHub App: signs a JWT, mints an installation token and reuses it while it is valid', async () => {
    // @octokit/auth-app renews an installation token one minute before GitHub's one-hour expiry.
    const app = fake.installApp();
    const keyPath = join(dir, 'app.pem');
    writeFileSync(keyPath, app.privateKeyPem, { mode: 0o600 });
    const cfg = defaultConfig();
    const auth = await resolveAuth({ env: {}, config: { ...cfg, gh: { ...cfg.gh, token_mode: 'github_app', app_id: String(app.appId), private_key_path: keyPath, installation_id: String(app.installationId) } } });
    expect(auth.source).toBe('github_app');
    const appClient = createClient(auth, { apiUrl: fake.url, writeIntervalMs: 0, msPerRetrySecond: 20 });
    const r = new GitHubRepo(appClient, 'acme/widgets');
    const n = fake.openIssue('acme/widgets', { title: 'for the app' }).number;
    await r.comment(n, 'from the app');
    await r.addLabel(n, 'triage');
    expect((await r.getIssue(n)).labels).toContain('triage');
    expect(fake.repo('acme/widgets').comments.at(-1)).toMatchObject({ user: 'orch-app[bot]', body: 'from the app' });
    const minted = () => fake.requests.filter((x) => x.operation === 'apps/create-installation-access-token').length;
    expect(minted()).toBe(1);
    // Without gh.installation_id, the installation is found from the repository.
    const found = await withInstallation({ ...auth, installationId: undefined } as typeof auth, 'acme/widgets', { apiUrl: fake.url });
    expect(found).toMatchObject({ source: 'github_app', installationId: app.installationId });
  });

  it('as a GitHub App: renews the installation token before it expires; work goes on past the first token\'s expiry', async () => {
    const app = fake.installApp(); // tokens live one hour, as GitHub's
    const keyPath = join(dir, 'app-renew.pem');
    writeFileSync(keyPath, app.privateKeyPem, { mode: 0o600 });
    const cfg = defaultConfig();
    const auth = await resolveAuth({ env: {}, config: { ...cfg, gh: { ...cfg.gh, token_mode: 'github_app', app_id: String(app.appId), private_key_path: keyPath, installation_id: String(app.installationId) } } });
    const r = new GitHubRepo(createClient(auth, { apiUrl: fake.url, writeIntervalMs: 0, msPerRetrySecond: 20 }), 'acme/widgets');
    const n = fake.openIssue('acme/widgets', { title: 'a long-running app' }).number;
    const mints = () => fake.requests.filter((x) => x.operation === 'apps/create-installation-access-token');
    const before = mints().length;
    // Only the clock moves (the coordinator's and the fake's): timers and sockets stay real.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const t0 = Date.now();
      await r.comment(n, 'at minute 0');
      expect(mints().length).toBe(before + 1);
      vi.setSystemTime(t0 + 30 * 60_000);
      await r.comment(n, 'at minute 30');
      expect(mints().length).toBe(before + 1); // still valid: reused
      vi.setSystemTime(t0 + 59.5 * 60_000);
      await r.comment(n, 'at minute 59.5');
      expect(mints().length).toBe(before + 2); // renewed before the first one expired
      vi.setSystemTime(t0 + 61 * 60_000);
      await r.comment(n, 'at minute 61'); // the first token is dead now; the renewed one works
      expect(mints().length).toBe(before + 2);
      expect(fake.requests.filter((x) => x.status === 401)).toEqual([]);
      expect(fake.repo('acme/widgets').comments.filter((c) => c.issue === n).map((c) => c.body)).toEqual(['at minute 0', 'at minute 30', 'at minute 59.5', 'at minute 61']);
    } finally {
      vi.useRealTimers();
    }
  });
});
