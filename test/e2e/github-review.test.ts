// The review agent (workflow.enable_review_agent), end to end with `orch serve` and the
// fake GitHub: a different agent than the task's reads the PR's diff, requests changes
// (the task goes back to its agent with the review), then approves the new head, and
// auto-merge merges it. GitHub refuses a review verdict on one's own PR (422), so orch
// posts the verdict as a COMMENT review and acts on it itself. `/review` asks for a review
// where the review agent is off.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from '../fakes/github/server.js';
import { makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';
import { freePort } from '../harness/nats-server.js';

const REPO = 'acme/reviewed';
const SECRET = 'whsec-review-0123456789abcdef';

interface TaskJson { id: number; status: string; branch: string; attempts: number; issue_number: number; pr_number: number; reason: string; events: Array<{ event: string; to_status: string; detail: string }> }


describe('the review agent', () => {
  let h: OrchHome;
  let fake: FakeGitHub;
  let repo: { work: string; origin: string };
  let token: string;
  let httpPort: number;
  const prompts = () => join(h.dir, 'prompts');
  const reviews = () => join(h.dir, 'reviews');

  beforeAll(async () => {
    h = new OrchHome('orch-e2e-review-');
    fake = await FakeGitHub.start();
    repo = await makeRepo(h.dir, 'reviewed');
    fake.addRepo(REPO, { gitDir: repo.origin });
    token = fake.token('orch-bot');
    fake.collaborator(REPO, 'orch-bot', 'write');
    fake.collaborator(REPO, 'carol', 'write');
    writeFileSync(join(repo.work, '.orch.yml'), ['gh:', `  repo: ${REPO}`, 'workflow:', '  auto_merge: true', ''].join('\n'));
    // The task's agent: writes fix-N.txt, keeps each prompt it got.
    const fixer = join(h.dir, 'fixer.sh');
    writeFileSync(fixer, [
      '#!/bin/bash',
      'n=$(ls fix-*.txt 2>/dev/null | wc -l)',
      `mkdir -p ${prompts()}; f="${prompts()}/$(basename "$PWD")-$n.md"; cat > "$f.part"; mv "$f.part" "$f"`,
      'echo "fix $n" > "fix-$n.txt"',
      `echo '{"status":"done","summary":"wrote fix '$n'","accomplished":["wrote fix-'$n'.txt"],"files_changed":["fix-'$n'.txt"]}'`,
    ].join('\n') + '\n', { mode: 0o755 });
    // The reviewer: keeps each prompt; asks for changes on its first review, approves after.
    const critic = join(h.dir, 'critic.sh');
    writeFileSync(critic, [
      '#!/bin/bash',
      `mkdir -p ${reviews()}; n=$(ls ${reviews()} | wc -l); cat > "${reviews()}/review-$n.md"`,
      'if [ "$n" = 0 ]; then',
      `  echo 'Looking at it.'; echo '{"decision":"request_changes","summary":"fix-0.txt alone is not enough","comments":["Add fix-1.txt as well"]}'`,
      'else',
      `  echo '{"decision":"approve","summary":"both files are there","comments":[]}'`,
      'fi',
    ].join('\n') + '\n', { mode: 0o755 });
    httpPort = await freePort();
    h.writeConfig([
      'workflow:', '  max_attempts: 5', '  timeout_seconds: 120', '  retry_delay_seconds: 0', '  enable_review_agent: true',
      'agents:',
      '  fixer:', '    kind: command', `    command: ${fixer}`,
      '  critic:', '    kind: command', `    command: ${critic}`,
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
  });

  const task = async (id: number) => h.json<TaskJson>(['task', 'get', String(id)]);
  const statusOf = async (id: number, want: string) => waitFor(async () => {
    const t = await task(id);
    if (t.status === 'needs_review' && want !== 'needs_review') throw new Error(`task ${id} needs review: ${t.reason}\n${h.logOf('serve').slice(-3000)}`);
    return t.status === want ? t : undefined;
  }, { timeoutMs: 120_000, intervalMs: 300, what: `task ${id} to be ${want}` });

  it('another agent reviews the diff: changes requested go back to the author, its approval of the new head merges the PR', async () => {
    const serve = await h.serve([], { GH_TOKEN: token });
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0);
    try {
      fake.deliverWebhooksTo(`http://127.0.0.1:${httpPort}/webhooks/github`, SECRET);
      const r = fake.repo(REPO);
      const issue = fake.openIssue(REPO, { title: 'Write the fixes', body: 'Two fix files are needed', labels: ['agent:fixer'], user: 'carol' });
      const id = await waitFor(async () => (await h.json<TaskJson[]>(['task', 'list'])).find((t) => t.issue_number === issue.number)?.id, { timeoutMs: 30_000, what: 'the task' });
      const first = await waitFor(async () => { const t = await task(id); return t.pr_number ? t : undefined; }, { timeoutMs: 60_000, what: 'the PR' });

      // The critic (not the task's agent) got the task and the diff of the PR's head.
      await waitFor(async () => (await task(id)).attempts === 2, { timeoutMs: 60_000, what: 'attempt 2 after the review agent asked for changes' });
      const review0 = readFileSync(join(reviews(), 'review-0.md'), 'utf8');
      expect(review0).toContain(`Pull request #${first.pr_number}: Write the fixes`);
      expect(review0).toContain('Two fix files are needed');
      expect(review0).toContain('+fix 0');
      expect(review0).toContain('fix-0.txt');
      const slug = first.branch.split('/').pop()!;
      // attempts === 2 is counted at dispatch; the agent writes its prompt once it runs.
      const prompt1 = await waitFor(() => { try { return readFileSync(join(prompts(), `${slug}-1.md`), 'utf8') || undefined; } catch { return undefined; } },
        { timeoutMs: 60_000, what: 'the second attempt\'s prompt' });
      expect(prompt1).toContain('the review agent (critic) requested changes');
      expect(prompt1).toContain('Add fix-1.txt as well');

      // The new head: approved by the critic, merged (auto_merge), done.
      const done = await statusOf(id, 'done');
      expect(readdirSync(reviews())).toHaveLength(2);
      expect(readFileSync(join(reviews(), 'review-1.md'), 'utf8')).toContain('+fix 1');
      expect(r.issues.get(first.pr_number)!.pull!.merged).toBe(true);
      const verdicts = done.events.filter((e) => e.event === 'review_agent').map((e) => e.detail);
      expect(verdicts).toHaveLength(2);
      expect(verdicts[0]).toMatch(/^critic on local: request_changes/);
      expect(verdicts[1]).toMatch(/^critic on local: approve/);
      expect(done.events.map((e) => e.event)).toEqual(expect.arrayContaining(['changes_requested', 'merged']));
      // Both verdicts are on the PR, once each (as COMMENTs: GitHub refuses a verdict on one's own PR).
      const posted = r.reviews.filter((v) => v.pull === first.pr_number && v.user === 'orch-bot');
      expect(posted.map((v) => v.state)).toEqual(['COMMENTED', 'COMMENTED']);
      expect(posted[0].body).toContain('orch review agent: changes requested');
      expect(posted[0].body).toContain('Add fix-1.txt as well');
      expect(posted[1].body).toContain('orch review agent: approved');
      expect(fake.requests.filter((q) => q.operation === 'pulls/create-review').map((q) => q.status)).toEqual([422, 200, 422, 200]);
    } finally {
      await h.stop(serve);
    }
  }, 200_000);

  it('/review from a collaborator has the review agent read a PR where it is off; a non-collaborator\'s /review does nothing', async () => {
    const REPO2 = 'acme/manual';
    const repo2 = await makeRepo(h.dir, 'manual');
    fake.addRepo(REPO2, { gitDir: repo2.origin });
    fake.collaborator(REPO2, 'orch-bot', 'write');
    fake.collaborator(REPO2, 'carol', 'write');
    writeFileSync(join(repo2.work, '.orch.yml'), ['gh:', `  repo: ${REPO2}`, 'workflow:', '  enable_review_agent: false', ''].join('\n'));
    const serve = await h.serve([], { GH_TOKEN: token });
    expect((await h.run(['project', 'add', repo2.work])).code).toBe(0);
    try {
      fake.deliverWebhooksTo(`http://127.0.0.1:${httpPort}/webhooks/github`, SECRET);
      const r = fake.repo(REPO2);
      const before = readdirSync(reviews()).length;
      const issue = fake.openIssue(REPO2, { title: 'One fix', labels: ['agent:fixer'], user: 'carol' });
      const id = await waitFor(async () => (await h.json<TaskJson[]>(['task', 'list'])).find((t) => t.issue_number === issue.number && t.status === 'in_review' && t.pr_number)?.id,
        { timeoutMs: 60_000, what: 'the task in review with its PR' });
      const pr = (await task(id)).pr_number;
      // Off: nobody reviews it by itself.
      await fake.settled();
      expect(r.reviews.filter((v) => v.pull === pr)).toEqual([]);
      fake.comment(REPO2, issue.number, 'mallory', '/review');
      await fake.settled();
      fake.comment(REPO2, issue.number, 'carol', 'Please look again:\n/review');
      await waitFor(() => r.reviews.some((v) => v.pull === pr && v.user === 'orch-bot'), { timeoutMs: 60_000, what: 'the review agent\'s review' });
      // One review, for carol's command only (mallory has no write access).
      expect(readdirSync(reviews()).length).toBe(before + 1);
      const posted = r.reviews.filter((v) => v.pull === pr && v.user === 'orch-bot');
      expect(posted).toHaveLength(1);
      expect(posted[0].body).toContain('orch review agent: approved');
      // Approved by the agent, but auto_merge is off: it stays in review for a person to merge.
      await fake.settled();
      expect((await task(id)).status).toBe('in_review');
      expect(r.issues.get(pr)!.pull!.merged).toBe(false);
    } finally {
      await h.stop(serve);
    }
  }, 200_000);
});
