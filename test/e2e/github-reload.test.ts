// A change to config.yml's gh.* settings takes effect in a running `orch serve`: GitHub sync
// read them when it started, so a reload starts it again with the new ones. Here the
// operator fixes a wrong gh.api_url while orch runs; the issue opened meanwhile arrives
// (by polling, webhooks off) without a restart.
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub } from '../fakes/github/server.js';
import { makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

const REPO = 'acme/reloaded';

describe('gh.* settings reloaded', () => {
  let h: OrchHome;
  let fake: FakeGitHub;
  let repo: { work: string; origin: string };

  beforeAll(async () => {
    h = new OrchHome('orch-e2e-ghreload-');
    fake = await FakeGitHub.start();
    fake.webhooksOn = false;
    repo = await makeRepo(h.dir, 'reloaded');
    fake.addRepo(REPO, { gitDir: repo.origin });
    writeFileSync(join(repo.work, '.orch.yml'), ['gh:', `  repo: ${REPO}`, ''].join('\n'));
  }, 60_000);
  afterAll(async () => {
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await fake?.close();
  });

  const config = (apiUrl: string, extra: string[] = []) => [
    'agents:', '  waiter:', '    kind: command', '    command: /bin/true',
    'gh:', `  api_url: ${apiUrl}`, '  poll_seconds: 1', '  write_interval_ms: 0', ...extra,
    'tmux:', `  socket: ${h.tmuxSocket}`,
    'node:', '  name: local', '  slots: 1', '',
  ].join('\n');

  it('fixing gh.api_url in config.yml while orch serves: the issue opened meanwhile becomes a task', async () => {
    // The wrong server: another GitHub (as a mistyped Enterprise host) that has no such repository.
    const wrong = await FakeGitHub.start();
    h.writeConfig(config(wrong.url));
    const serve = await h.serve([], { GH_TOKEN: fake.token('orch-bot') });
    try {
      expect((await h.run(['project', 'add', repo.work])).code).toBe(0);
      const issue = fake.openIssue(REPO, { title: 'Arrives after the fix', labels: ['agent:waiter'] });
      // Polls go to the wrong server and fail; nothing reaches the right one.
      await waitFor(() => /GitHub poll failed/.test(h.logOf('serve')), { timeoutMs: 60_000, what: 'a failed poll at the wrong api_url' });
      expect(wrong.requests.some((q) => q.path === `/repos/${REPO}/issues` && q.status === 401)).toBe(true); // it knows not our token
      expect(fake.requests.filter((q) => q.operation === 'issues/list-for-repo')).toEqual([]);
      expect((await h.json<Array<{ issue_number: number }>>(['task', 'list'])).some((t) => t.issue_number === issue.number)).toBe(false);

      h.writeConfig(config(fake.url));
      const task = await waitFor(async () => (await h.json<Array<{ id: number; issue_number: number }>>(['task', 'list'])).find((t) => t.issue_number === issue.number),
        { timeoutMs: 60_000, what: 'the issue as a task after the reload' });
      expect(task.id).toBeGreaterThan(0);
      expect(h.logOf('serve')).toMatch(/gh settings changed: GitHub sync restarted with them/);
    } finally {
      await h.stop(serve);
      await wrong.close();
    }
    await fake.settled();
    expect(fake.violations.splice(0)).toEqual([]);
  }, 150_000);

  it('a GitHub that accepts connections and never answers holds up neither orch serve nor orch project add; its requests time out', async () => {
    // Accepts, reads, never answers (a wedged proxy or Enterprise host).
    const sockets: Socket[] = [];
    const silent = createServer((s) => { sockets.push(s); s.on('error', () => undefined); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    h.writeConfig(config(`http://127.0.0.1:${port}`, ['  request_timeout_seconds: 1']));
    const serve = await h.serve([], { GH_TOKEN: fake.token('orch-bot') });
    try {
      // The project (with gh.repo) is added while GitHub says nothing: the call returns.
      const add = await h.run(['project', 'add', repo.work]);
      expect(add.code, add.stderr).toBe(0);
      expect(sockets.length).toBeGreaterThan(0); // it did try GitHub
      // Each request is cut at request_timeout_seconds (then retried): the poll fails and says so.
      await waitFor(() => /GitHub poll failed.*(timeout|aborted)/i.test(h.logOf('serve')), { timeoutMs: 90_000, what: 'a poll that timed out' });
      expect((await h.run(['task', 'list'])).code).toBe(0); // and the coordinator answers meanwhile
    } finally {
      await h.stop(serve);
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  }, 150_000);
});
