// A task from GitHub is one trace from the issue's arrival to its PR and the CI and
// review loops after it: `orch serve` (embedded default) synced with the fake GitHub over
// HTTP, exporting to a fake OTLP receiver. Also: the GitHub metrics match what the fake
// saw, and log lines written inside a span carry its trace and span ids.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOtlp, type FakeOtlp, type ReceivedSpan } from '../fixtures/fake-otlp.js';
import { FakeGitHub } from '../fakes/github/server.js';
import { makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';
import { freePort } from '../harness/nats-server.js';

const REPO = 'acme/widgets';
const SECRET = 'whsec-trace-0123456789abcdef';

interface TaskJson { id: number; status: string; attempts: number; pr_number: number; issue_number: number; trace_id: string; reason: string }


describe('tracing with GitHub', () => {
  let h: OrchHome;
  let fake: FakeGitHub;
  let otlp: FakeOtlp;
  let serve: Awaited<ReturnType<OrchHome['serve']>>;

  beforeAll(async () => {
    h = new OrchHome('orch-trace-gh-');
    fake = await FakeGitHub.start();
    otlp = await startFakeOtlp();
    const repo = await makeRepo(h.dir, 'widgets');
    fake.addRepo(REPO, { gitDir: repo.origin });
    const token = fake.token('orch-bot');
    fake.collaborator(REPO, 'orch-bot', 'write');
    fake.collaborator(REPO, 'carol', 'write');
    writeFileSync(join(repo.work, '.orch.yml'), ['gh:', `  repo: ${REPO}`, 'workflow:', '  auto_merge: true', '  max_ci_fixes: 2', ''].join('\n'));
    const fixer = join(h.dir, 'fixer.sh');
    writeFileSync(fixer, [
      '#!/bin/bash', 'cat > /dev/null',
      'n=$(ls fix-*.txt 2>/dev/null | wc -l)', 'echo "fix $n" > "fix-$n.txt"',
      `echo '{"status":"done","summary":"wrote fix '$n'","files_changed":["fix-'$n'.txt"]}'`,
    ].join('\n') + '\n', { mode: 0o755 });
    const httpPort = await freePort();
    h.writeConfig([
      'workflow:', '  max_attempts: 5', '  retry_delay_seconds: 0',
      'agents:', '  fixer:', '    kind: command', `    command: ${fixer}`,
      'gh:', `  api_url: ${fake.url}`, `  webhook_secret: ${SECRET}`, '  poll_seconds: 3600', '  write_interval_ms: 0',
      'http:', `  listen: 127.0.0.1:${httpPort}`,
      'tmux:', `  socket: ${h.tmuxSocket}`, '',
    ].join('\n'));
    serve = await h.serve([], {
      GH_TOKEN: token, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_METRIC_EXPORT_INTERVAL: '300',
    });
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0);
    fake.deliverWebhooksTo(`http://127.0.0.1:${httpPort}/webhooks/github`, SECRET);
    // Sync's first poll runs as it starts: once the fake has answered its issue listing (it answers
    // in the turn it records a request), the issue the test opens arrives by webhook, not by that poll.
    await waitFor(() => fake.requests.some((r) => r.operation === 'issues/list-for-repo'), { timeoutMs: 30_000, what: 'sync\'s first poll' });
  }, 120_000);

  afterAll(async () => {
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await fake?.close();
    await otlp?.close();
  });

  const task = (id: number) => h.json<TaskJson>(['task', 'get', String(id)]);
  const until = (id: number, ok: (t: TaskJson) => boolean, what: string) => waitFor(async () => {
    const t = await task(id);
    if (t.status === 'needs_review') throw new Error(`task ${id} needs review: ${t.reason}`);
    return ok(t) ? t : undefined;
  }, { timeoutMs: 90_000, intervalMs: 300, what });

  it('an issue\'s task is one trace from the webhook intake to the PR create, the CI loop and the merge', async () => {
    const issue = fake.openIssue(REPO, { title: 'Add a fix', body: 'Write a fix file', labels: ['agent:fixer'], user: 'carol' });
    const id = await waitFor(async () => (await h.json<TaskJson[]>(['task', 'list'])).find((t) => t.issue_number === issue.number)?.id, { timeoutMs: 30_000, what: 'the task for the issue' });
    const inReview = await until(id, (t) => t.status === 'in_review' && t.pr_number > 0, 'the PR');
    const pr = inReview.pr_number;
    // CI fails once (back to the agent: a second attempt), then passes; approval merges.
    fake.checkRun(REPO, pr, { name: 'unit-tests', conclusion: 'failure', text: 'FAIL: fix-0.txt is not enough' });
    await until(id, (t) => t.attempts === 2 && t.status === 'in_review', 'the second attempt in review');
    fake.checkRun(REPO, pr, { name: 'unit-tests', conclusion: 'success' });
    await fake.settled();
    fake.review(REPO, pr, 'carol', 'APPROVED', 'LGTM');
    const done = await until(id, (t) => t.status === 'done', 'the merge');
    expect(done.trace_id).toMatch(/^[0-9a-f]{32}$/);

    const spans = await waitFor(() => {
      const mine = otlp.spans.filter((s) => s.traceId === done.trace_id);
      const verdicts = mine.filter((s) => s.name === 'orch.github.pr verdict').map((s) => s.attributes['orch.pr.verdict']);
      return mine.some((s) => s.name === 'orch.github.pr create') && verdicts.includes('ci_failed') && verdicts.includes('green') ? mine : undefined;
    }, { timeoutMs: 20_000, what: 'the PR create and verdict spans in the task\'s trace' });
    expect(otlp.rejected).toEqual([]);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const chain = (s: ReceivedSpan): string[] => {
      const names = [s.name];
      for (let p = byId.get(s.parentSpanId); p; p = byId.get(p.parentSpanId)) names.push(p.name);
      return names;
    };
    const one = (name: string, attrs: Record<string, unknown> = {}) => {
      const found = spans.filter((s) => s.name === name && Object.entries(attrs).every(([k, v]) => s.attributes[k] === v));
      expect(found.length, `${name} ${JSON.stringify(attrs)}`).toBe(1);
      return found[0];
    };

    // The root: the issue arriving by webhook.
    const intake = one('orch.task.intake');
    expect(intake).toMatchObject({ parentSpanId: '', service: 'orch-coordinator' });
    expect(intake.attributes).toMatchObject({ 'orch.intake': 'webhook', 'orch.issue': issue.number, 'orch.task': id });
    // Intake -> sync out -> PR create -> the API call that made it, every link a parent link.
    const create = one('orch.github.pr create');
    expect(chain(create)).toEqual(['orch.github.pr create', 'orch.github.update', 'orch.task.intake']);
    expect(create.attributes['orch.pr']).toBe(pr);
    const post = one('GitHub POST /repos/{owner}/{repo}/pulls');
    expect(post).toMatchObject({ kind: 3, parentSpanId: create.spanId });
    expect(post.attributes['http.response.status_code']).toBe(201);
    // The node's side of both attempts: receive (CONSUMER) -> worktree; the agent run; the push.
    for (const attempt of [1, 2]) {
      const publish = one('orch.assign publish', { 'orch.attempt': attempt });
      expect(publish.parentSpanId).toBe(intake.spanId);
      const receive = one('orch.assign receive', { 'orch.attempt': attempt });
      expect(receive.parentSpanId).toBe(publish.spanId);
      expect(one('orch.worktree', { 'orch.attempt': attempt }).parentSpanId).toBe(receive.spanId);
      expect(one('orch.report start', { 'orch.attempt': attempt })).toMatchObject({ kind: 2, parentSpanId: receive.spanId });
      expect(one('invoke_agent fixer', { 'orch.attempt': attempt }).parentSpanId).toBe(publish.spanId);
      expect(one('orch.git push', { 'orch.attempt': attempt }).attributes).toMatchObject({ 'orch.pushed': true, 'orch.committed': true });
    }
    // The CI loop and the review loop: verdicts that acted, in the task's trace (a PR waiting is no span).
    const ci = one('orch.github.pr verdict', { 'orch.pr.verdict': 'ci_failed' });
    expect(ci.parentSpanId).toBe(intake.spanId);
    expect(ci.attributes).toMatchObject({ 'orch.pr': pr, 'orch.pr.check': 'unit-tests' });
    const green = one('orch.github.pr verdict', { 'orch.pr.verdict': 'green' });
    expect(spans.find((s) => s.name === 'GitHub PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge')?.parentSpanId).toBe(green.spanId);
    expect(spans.filter((s) => s.name === 'orch.github.pr verdict').map((s) => s.attributes['orch.pr.verdict']).sort()).toEqual(['ci_failed', 'green']);

    // Logs written inside a span carry its ids: the PR's log line names the sync-out span.
    const line = h.logOf('serve').split('\n').filter((l) => l.includes('"pull request opened"')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>)[0];
    expect(line).toMatchObject({ task: id, pr, trace_id: done.trace_id });
    expect(byId.get(String(line.span_id))?.name).toBe('orch.github.update');
  }, 240_000);

  it('GitHub metrics: every request the fake answered is counted, by status; the rate limit left is the one GitHub reported', async () => {
    await fake.settled();
    const sum = (points: Array<{ value: number }>) => points.reduce((n, p) => n + p.value, 0);
    // Cumulative counters: wait for an export that has seen the fake's every request. orch may still be
    // writing to GitHub after the merge (labels, comments), so the fake's requests, its rate limit and
    // the export are read together, in one turn of the event loop, and compared as that one snapshot.
    const snap = await waitFor(() => {
      const requests = [...fake.requests];
      const left = otlp.latest('orch.github.rate_limit.remaining', { 'orch.github.resource': 'core' })[0];
      if (sum(otlp.latest('orch.github.requests')) !== requests.length || !left) return undefined;
      const statuses = [...new Set([201, ...requests.map((r) => r.status)])];
      return {
        requests, left, remaining: fake.rate.remaining,
        byStatus: new Map(statuses.map((status) => [status, sum(otlp.latest('orch.github.requests', { 'http.response.status_code': status }))])),
        graphql: sum(otlp.latest('orch.github.requests', { 'orch.github.api': 'graphql' })),
      };
    }, { timeoutMs: 30_000, what: `orch.github.requests to reach the fake's count, and the rate-limit gauge (at the start: ${fake.requests.length} requests, ${sum(otlp.latest('orch.github.requests'))} exported)` });
    for (const status of new Set(snap.requests.map((r) => r.status))) expect(snap.byStatus.get(status), `status ${status}`).toBe(snap.requests.filter((r) => r.status === status).length);
    expect(snap.byStatus.get(201)).toBeGreaterThanOrEqual(1); // the PR, comments
    expect(snap.graphql).toBe(snap.requests.filter((r) => r.path === '/graphql').length);
    // The fake reports the limit left before a request's cost: the newest report is what is left now, or one more.
    expect(snap.remaining).toBeLessThan(fake.rate.limit);
    expect(snap.left.value - snap.remaining).toBeGreaterThanOrEqual(0);
    expect(snap.left.value - snap.remaining).toBeLessThanOrEqual(1);
  }, 60_000);
});
