// GitHub as the source of truth, end to end as a user runs it: `orch serve` (embedded
// default, its own agent-node) synced with the fake GitHub over HTTP, the real Claude
// Code CLI against the fake Anthropic API, and a bare git origin that is the fake's view
// of the repository. An issue becomes a PR that closes it; CI and review loop it back.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../fixtures/fake-anthropic.js';
import { FakeGitHub } from '../fakes/github/server.js';
import { claudeAgentYaml, git, makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';
import { freePort } from '../harness/nats-server.js';

const REPO = 'acme/widgets';
const SECRET = 'whsec-e2e-0123456789abcdef';

interface TaskJson { id: number; status: string; branch: string; attempts: number; issue_number: number; pr_number: number; reason: string; events: Array<{ event: string; to_status: string }> }


describe('GitHub end to end with orch serve', () => {
  let h: OrchHome;
  let fake: FakeGitHub;
  let anthropic: Awaited<ReturnType<typeof startFakeAnthropic>>;
  let repo: { work: string; origin: string };
  let token: string;
  let board: ReturnType<FakeGitHub['graphql']['createProject']>;
  let httpPort: number;

  beforeAll(async () => {
    h = new OrchHome('orch-e2e-gh-');
    fake = await FakeGitHub.start();
    anthropic = await startFakeAnthropic({ writeFile: { path: 'hello.txt', content: 'hello from claude\n' } });
    repo = await makeRepo(h.dir, 'widgets');
    fake.addRepo(REPO, { gitDir: repo.origin });
    token = fake.token('orch-bot');
    fake.collaborator(REPO, 'orch-bot', 'write');
    fake.collaborator(REPO, 'carol', 'write');
    board = fake.graphql.createProject('acme', 'Roadmap', ['Backlog', 'In Progress', 'Review', 'Done']);
    writeFileSync(join(repo.work, '.orch.yml'), [
      'gh:', `  repo: ${REPO}`, `  project_id: ${board.id}`,
      'workflow:', '  auto_merge: true', '  max_ci_fixes: 2', '',
    ].join('\n'));
    const fixer = join(h.dir, 'fixer.sh');
    writeFileSync(fixer, [
      '#!/bin/bash',
      'n=$(ls fix-*.txt 2>/dev/null | wc -l)',
      `mkdir -p ${join(h.dir, 'prompts')}; cat > "${join(h.dir, 'prompts')}/$(basename "$PWD")-$n.md"`,
      'echo "fix $n" > "fix-$n.txt"',
      `echo '{"status":"done","summary":"wrote fix '$n'","accomplished":["wrote fix-'$n'.txt"],"remaining":[],"files_changed":["fix-'$n'.txt"]}'`,
    ].join('\n') + '\n', { mode: 0o755 });
    const planner = join(h.dir, 'planner.sh');
    writeFileSync(planner, [
      '#!/bin/bash', 'cat > /dev/null', 'echo plan > PLAN.md',
      `echo '{"status":"done","summary":"split the work","files_changed":["PLAN.md"],"delegations":[{"title":"Sub-task A","body":"Do part A","labels":["agent:fixer"]}]}'`,
    ].join('\n') + '\n', { mode: 0o755 });
    httpPort = await freePort();
    h.writeConfig([
      'workflow:', '  max_attempts: 5', '  timeout_seconds: 300', '  retry_delay_seconds: 0',
      'model_map:', '  medium: { claude: sonnet }',
      'agents:',
      ...claudeAgentYaml(anthropic.url, join(h.dir, 'claude-config')),
      '  fixer:', '    kind: command', `    command: ${fixer}`,
      '  planner:', '    kind: command', `    command: ${planner}`,
      'gh:', `  api_url: ${fake.url}`, `  webhook_secret: ${SECRET}`, '  poll_seconds: 2', '  write_interval_ms: 0',
      'http:', `  listen: 127.0.0.1:${httpPort}`,
      'tmux:', `  socket: ${h.tmuxSocket}`,
      'node:', '  name: local', '  slots: 2', '',
    ].join('\n'));
  }, 120_000);

  afterEach(async () => {
    await fake.settled();
    expect(fake.violations.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await fake?.close();
    await anthropic?.close();
  });

  const task = async (id: number) => h.json<TaskJson>(['task', 'get', String(id)]);
  const statusOf = async (id: number, want: string) => waitFor(async () => {
    const t = await task(id);
    if (t.status === 'needs_review' && want !== 'needs_review') throw new Error(`task ${id} needs review: ${t.reason}\n${h.logOf('serve').slice(-3000)}`);
    return t.status === want ? t : undefined;
  }, { timeoutMs: 150_000, intervalMs: 300, what: `task ${id} to be ${want}` });

  it('an issue arrives by webhook and ends as an open PR that closes it; CI sends it back once; approval merges it', async () => {
    const serve = await h.serve([], { GH_TOKEN: token });
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0); // again is fine
    try {
      fake.deliverWebhooksTo(`http://127.0.0.1:${httpPort}/webhooks/github`, SECRET);
      const issue = fake.openIssue(REPO, { title: 'Add a greeting', body: 'Create hello.txt', labels: ['agent:claude'], user: 'carol' });

      const id = await waitFor(async () => (await h.json<TaskJson[]>(['task', 'list'])).find((t) => t.issue_number === issue.number)?.id, { timeoutMs: 30_000, what: 'the task for the issue' });
      const inReview = await waitFor(async () => { const t = await statusOf(id, 'in_review'); return t.pr_number ? t : undefined; }, { timeoutMs: 150_000, what: 'the PR' });
      const r = fake.repo(REPO);
      const pr = r.issues.get(inReview.pr_number)!;
      // The pushed branch, an open PR from it that closes the issue.
      expect(await git(['--git-dir', repo.origin, 'show', `${inReview.branch}:hello.txt`])).toBe('hello from claude\n');
      expect(pr.pull).toMatchObject({ head: inReview.branch, base: 'main', merged: false });
      expect(pr.state).toBe('open');
      expect(pr.body).toContain(`Closes #${issue.number}`);
      // status labels followed each of the task's transitions in order, one label at a time,
      // ending in review.
      await waitFor(() => r.issues.get(issue.number)!.labels.filter((l) => l.startsWith('status:')).join() === 'status:in_review', { what: 'status:in_review' });
      const log = fake.labelLog.filter((l) => l.issue === issue.number && l.label.startsWith('status:'));
      const added = log.filter((l) => l.action === 'labeled').map((l) => l.label.slice('status:'.length));
      const history = inReview.events.map((e) => e.to_status).filter((s, i, all) => i === 0 || all[i - 1] !== s);
      expect(history.slice(0, 4)).toEqual(['new', 'routed', 'in_progress', 'in_review']);
      expect(added).toEqual(history);
      const on = new Set<string>();
      for (const l of log) { if (l.action === 'labeled') on.add(l.label); else on.delete(l.label); expect(on.size).toBeLessThanOrEqual(1); }
      // A structured result comment, and the board item in the review column.
      await waitFor(() => r.comments.some((c) => c.issue === issue.number && c.body.includes('attempt 1 of task')), { what: 'the result comment' });
      const comment = r.comments.find((c) => c.issue === issue.number && c.body.includes('attempt 1 of task'))!;
      expect(comment.body).toContain('wrote the file');
      expect(comment.body).toMatch(/\d+ in \/ \d+ out tokens/);
      expect(comment.body).not.toContain('sk-ant-test');
      await waitFor(() => fake.graphql.column(board.id, r.issues.get(issue.number)!.nodeId) === 'Review', { what: 'the board item in Review' });

      // A failing check sends the task back to claude on the same branch with the check's output.
      fake.checkRun(REPO, pr.number, { name: 'unit-tests', conclusion: 'failure', text: 'FAIL test/greeting.test.ts: expected "hello" got "helo"' });
      await waitFor(async () => (await task(id)).attempts === 2, { timeoutMs: 30_000, what: 'a second attempt' });
      const again = await statusOf(id, 'in_review');
      expect(again.branch).toBe(inReview.branch);
      expect(again.pr_number).toBe(inReview.pr_number);
      expect(again.events.map((e) => e.event)).toContain('ci_failed');
      expect(anthropic.requests.some((q) => JSON.stringify(q.body).includes('unit-tests') && JSON.stringify(q.body).includes('expected \\"hello\\" got \\"helo\\"'))).toBe(true);

      // A green re-run stays in review; approval merges it (squash, branch deleted) and the task is done.
      fake.checkRun(REPO, pr.number, { name: 'unit-tests', conclusion: 'success' });
      await fake.settled();
      expect((await task(id)).status).toBe('in_review');
      fake.review(REPO, pr.number, 'carol', 'APPROVED', 'LGTM');
      const done = await statusOf(id, 'done');
      expect(done.events.map((e) => e.event)).toContain('merged');
      expect(pr.pull!.merged).toBe(true);
      expect(fake.requests.find((q) => q.operation === 'pulls/merge')).toBeDefined();
      await expect(git(['--git-dir', repo.origin, 'rev-parse', '--verify', `refs/heads/${inReview.branch}`])).rejects.toThrow();
      await waitFor(() => r.issues.get(issue.number)!.state === 'closed', { what: 'the issue closed' });
      await waitFor(() => fake.graphql.column(board.id, r.issues.get(issue.number)!.nodeId) === 'Done', { what: 'the board item in Done' });
    } finally {
      await h.stop(serve);
    }
  }, 300_000);

  it('by polling alone (no webhooks): an issue becomes a PR; orch task add creates an issue; --internal does not; publish does', async () => {
    fake.webhooksOn = false;
    const delivered = fake.deliveries.length;
    const serve = await h.serve([], { GH_TOKEN: token });
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0); // again is fine
    try {
      const issue = fake.openIssue(REPO, { title: 'Polish the fix', labels: ['agent:fixer'] });
      const id = await waitFor(async () => (await h.json<TaskJson[]>(['task', 'list'])).find((t) => t.issue_number === issue.number)?.id, { timeoutMs: 30_000, what: 'the task from polling' });
      const t = await waitFor(async () => { const x = await statusOf(id, 'in_review'); return x.pr_number ? x : undefined; }, { timeoutMs: 60_000, what: 'the PR from polling' });
      expect(fake.repo(REPO).issues.get(t.pr_number)!.body).toContain(`Closes #${issue.number}`);
      expect(fake.deliveries.length).toBe(delivered); // nothing came by webhook

      const added = await h.json<TaskJson>(['task', 'add', 'From the CLI', '--agent', 'fixer', '--body', 'made by orch task add'], { cwd: repo.work });
      expect(added.issue_number).toBeGreaterThan(0);
      expect(fake.repo(REPO).issues.get(added.issue_number)).toMatchObject({ title: 'From the CLI', body: 'made by orch task add', user: 'orch-bot' });
      const internal = await h.json<TaskJson>(['task', 'add', 'Housekeeping', '--internal', '--agent', 'fixer'], { cwd: repo.work });
      expect(internal.issue_number).toBe(0);
      const published = await h.json<TaskJson>(['task', 'publish', String(internal.id)]);
      expect(published.issue_number).toBeGreaterThan(0);
      expect(fake.repo(REPO).issues.get(published.issue_number)!.title).toBe('Housekeeping');
      // Polling finds the CLI-made issues already mirrored: no duplicate tasks.
      const before = (await h.json<TaskJson[]>(['task', 'list'])).length;
      const polls = fake.requests.filter((q) => q.operation === 'issues/list-for-repo').length;
      // A poll starts every 2 s (gh.poll_seconds), one at a time: two more take 4 s and up on an idle
      // machine, and a poll's requests take longer on a loaded one; the default 10 s wait is too tight.
      await waitFor(async () => fake.requests.filter((q) => q.operation === 'issues/list-for-repo').length >= polls + 2, { timeoutMs: 60_000, what: 'two more polls' });
      expect((await h.json<TaskJson[]>(['task', 'list'])).length).toBe(before);
    } finally {
      await h.stop(serve);
      fake.webhooksOn = true;
    }
  }, 200_000);

  it('failing CI past workflow.max_ci_fixes needs review; requested changes send the task back with the review', async () => {
    const serve = await h.serve([], { GH_TOKEN: token });
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0); // again is fine
    try {
      const r = fake.repo(REPO);
      const issue = fake.openIssue(REPO, { title: 'Keep failing', labels: ['agent:fixer'], user: 'carol' });
      const id = await waitFor(async () => (await h.json<TaskJson[]>(['task', 'list'])).find((t) => t.issue_number === issue.number)?.id, { timeoutMs: 30_000, what: 'the task' });
      const first = await waitFor(async () => { const x = await statusOf(id, 'in_review'); return x.pr_number ? x : undefined; }, { timeoutMs: 60_000, what: 'the PR' });
      const slug = first.branch.split('/').pop()!;
      // Changes requested: back to the agent with the review, then in review again on a new head.
      fake.review(REPO, first.pr_number, 'carol', 'CHANGES_REQUESTED', 'Please rename fix-0.txt to something clearer');
      await waitFor(async () => (await task(id)).attempts === 2, { timeoutMs: 30_000, what: 'attempt 2 after the review' });
      await statusOf(id, 'in_review');
      const prompt2 = readFileSync(join(h.dir, 'prompts', `${slug}-1.md`), 'utf8');
      expect(prompt2).toContain('review by carol requested changes');
      expect(prompt2).toContain('Please rename fix-0.txt to something clearer');
      // max_ci_fixes is 2: the first two failures go back to the agent, the third needs a person.
      for (let fix = 1; fix <= 2; fix++) {
        fake.checkRun(REPO, first.pr_number, { name: 'lint', conclusion: 'failure', text: `lint error number ${fix}` });
        await waitFor(async () => (await task(id)).attempts === 2 + fix, { timeoutMs: 30_000, what: `attempt ${2 + fix} after CI failure ${fix}` });
        await statusOf(id, 'in_review');
        expect(readFileSync(join(h.dir, 'prompts', `${slug}-${1 + fix}.md`), 'utf8')).toContain(`lint error number ${fix}`);
      }
      fake.checkRun(REPO, first.pr_number, { name: 'lint', conclusion: 'failure', text: 'lint error number 3' });
      const stuck = await statusOf(id, 'needs_review');
      expect(stuck.reason).toBe('check lint still fails after 2 fixes');
      expect(stuck.attempts).toBe(4);
      await waitFor(() => r.issues.get(issue.number)!.labels.includes('status:needs_review'), { what: 'status:needs_review' });
      expect(r.issues.get(first.pr_number)!.state).toBe('open');
    } finally {
      await h.stop(serve);
    }
  }, 200_000);

  it('an agent\'s delegations become sub-issues of the task\'s issue, and tasks of their own', async () => {
    const serve = await h.serve([], { GH_TOKEN: token });
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0);
    try {
      const r = fake.repo(REPO);
      const parent = fake.openIssue(REPO, { title: 'Big job', labels: ['agent:planner'] });
      await waitFor(() => parent.subIssues.length === 1, { timeoutMs: 60_000, what: 'the sub-issue' });
      const child = r.issues.get(parent.subIssues[0])!;
      expect(child).toMatchObject({ title: 'Sub-task A', labels: expect.arrayContaining(['agent:fixer']) });
      expect(child.body).toContain('Do part A');
      await waitFor(async () => (await h.json<TaskJson[]>(['task', 'list'])).some((t) => t.issue_number === child.number), { timeoutMs: 30_000, what: 'a task for the sub-issue' });
    } finally {
      await h.stop(serve);
    }
  }, 120_000);

  it('orch auth check names the source, the login, scopes and the rate limit; orch board info shows the columns', async () => {
    const r = await h.run(['auth', 'check'], { env: { GH_TOKEN: token }, cwd: repo.work });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('source:      GH_TOKEN');
    expect(r.stdout).toContain('login:       orch-bot');
    expect(r.stdout).toContain('scopes:      repo, read:org, project');
    expect(r.stdout).toMatch(/rate limit: {2}\d+\/5000 left/);
    expect(r.stdout).not.toContain(token);
    const bad = await h.run(['auth', 'check'], { env: { GH_TOKEN: 'ghp_wrongwrongwrongwrongwrong00' }, cwd: repo.work });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('GitHub refused the credentials from GH_TOKEN: HTTP 401');
    const info = await h.run(['board', 'info'], { env: { GH_TOKEN: token }, cwd: repo.work });
    expect(info.stdout).toContain('board:   Roadmap');
    expect(info.stdout).toContain('Backlog, In Progress, Review, Done');

    // A project not linked yet: list the owner's boards, link one, discover its Status field.
    const other = join(h.dir, 'linkme');
    mkdirSync(other);
    writeFileSync(join(other, '.orch.yml'), `# my project\ngh:\n  repo: ${REPO}\n`);
    const list = await h.run(['board', 'list'], { env: { GH_TOKEN: token }, cwd: other });
    expect(list.stdout).toContain(`${board.id}  #${board.number}  Roadmap`);
    expect((await h.run(['board', 'info'], { env: { GH_TOKEN: token }, cwd: other })).stderr).toContain('no gh.project_id: run orch board link ID first');
    const link = await h.run(['board', 'link', board.id], { env: { GH_TOKEN: token }, cwd: other });
    expect(link.stdout).toContain(`linked to "Roadmap" (${board.id})`);
    const sync = await h.run(['board', 'sync'], { env: { GH_TOKEN: token }, cwd: other });
    expect(sync.code).toBe(0);
    const yml = readFileSync(join(other, '.orch.yml'), 'utf8');
    expect(yml).toContain('# my project');
    expect(yml).toContain(`project_id: ${board.id}`);
    expect(yml).toContain(`project_status_field_id: ${board.statusField.id}`);

    // As a GitHub App: the source, the app's login and permissions.
    const app = fake.installApp();
    const key = join(h.dir, 'app.pem');
    writeFileSync(key, app.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(other, '.orch.yml'), `gh:\n  repo: ${REPO}\n  token_mode: github_app\n  app_id: "${app.appId}"\n  private_key_path: ${key}\n  installation_id: "${app.installationId}"\n`);
    const asApp = await h.run(['auth', 'check'], { cwd: other });
    expect(asApp.stderr).toBe('');
    expect(asApp.stdout).toContain('source:      github_app');
    expect(asApp.stdout).toContain('login:       orch-app[bot]');
    expect(asApp.stdout).toContain('permissions: issues:write');
    expect(asApp.stdout).not.toContain('BEGIN RSA PRIVATE KEY');
  }, 60_000);
});
