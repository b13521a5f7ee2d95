// GitHub sync in and out with a real Coordinator and the fake GitHub: issues become
// tasks by webhook and by polling alone, edits/closes/reopens flow in, orch's own writes
// coming back cause no loop, status labels follow the task, forged webhooks and
// non-collaborators' commands change nothing, and an idle repository costs almost nothing.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRow } from '../../coordinator/store/store.js';
import { logToFile } from '../../runtime/log.js';
import { REPO, startSyncedCoordinator, type SyncedCoordinator } from '../harness/github-coordinator.js';
import { waitFor } from '../harness/wait.js';

const statusLabels = (h: SyncedCoordinator, n: number) => h.fake.repo(REPO).issues.get(n)!.labels.filter((l) => l.startsWith('status:'));

describe('GitHub sync with webhooks', () => {
  let h: SyncedCoordinator;
  let logFile: string;

  beforeAll(async () => {
    h = await startSyncedCoordinator();
    logFile = join(mkdtempSync(join(tmpdir(), 'orch-gh-log-')), 'orch.log');
    logToFile(logFile);
  }, 120_000);
  afterEach(async () => {
    await h.fake.settled();
    expect(h.fake.violations.splice(0)).toEqual([]);
  });
  afterAll(async () => { await h?.stop(); });

  const taskOf = (n: number) => waitFor(() => h.store.taskByIssue(h.project, n), { what: `a task for issue #${n}` });

  it('an opened issue arrives by webhook, becomes a routed task, and carries one status label', async () => {
    const issue = h.fake.openIssue(REPO, { title: 'Fix the widget', body: 'It wobbles', labels: ['agent:worker', 'complexity:simple', 'bug'] });
    const task = await taskOf(issue.number);
    expect(task).toMatchObject({ title: 'Fix the widget', body: 'It wobbles', issueNumber: issue.number, labels: ['agent:worker', 'complexity:simple', 'bug'] });
    const routed = await waitFor(async () => { const t = await h.store.getTask(task.id); return t?.status === 'routed' ? t : undefined; }, { what: 'routing' });
    expect(routed).toMatchObject({ agent: 'worker', complexity: 'simple' });
    await waitFor(() => statusLabels(h, issue.number).join() === 'status:routed', { what: 'the status:routed label' });
    expect(h.fake.repo(REPO).issues.get(issue.number)!.labels).toEqual(['agent:worker', 'complexity:simple', 'bug', 'status:routed']);
  });

  it('edits, closes and reopens flow in; orch\'s own label writes coming back change nothing', async () => {
    const issue = h.fake.openIssue(REPO, { title: 'Old title', labels: ['agent:worker'] });
    const task = await taskOf(issue.number);
    await waitFor(() => statusLabels(h, issue.number).join() === 'status:routed', { what: 'status:routed' });
    await h.fake.settled();
    const eventsBefore = (await h.store.events(task.id)).map((e) => e.event);
    expect(eventsBefore).toEqual(['created', 'routed']); // the labeled webhooks orch caused made no event

    h.fake.editIssue(REPO, issue.number, { title: 'New title', body: 'more detail' });
    await waitFor(async () => (await h.store.getTask(task.id))?.title === 'New title', { what: 'the edited title' });
    expect((await h.store.getTask(task.id))!.body).toBe('more detail');

    h.fake.setIssueState(REPO, issue.number, 'closed', 'alice');
    await waitFor(async () => (await h.store.getTask(task.id))?.status === 'done', { what: 'the close' });
    h.fake.setIssueState(REPO, issue.number, 'open', 'alice');
    const back = await waitFor(async () => { const t = await h.store.getTask(task.id); return t?.status === 'routed' ? t : undefined; }, { what: 'the reopen' });
    expect(back.title).toBe('New title');
    await waitFor(() => statusLabels(h, issue.number).join() === 'status:routed', { what: 'status:routed again' });
    await h.fake.settled();
    const events = (await h.store.events(task.id)).map((e) => e.event);
    expect(events).toEqual(['created', 'routed', 'edited', 'closed', 'retried', 'routed']);
  });

  it('an issue labelled no-agent never becomes a task', async () => {
    const issue = h.fake.openIssue(REPO, { title: 'Manual work', labels: ['no-agent'] });
    await h.fake.settled();
    await h.coordinator.github!.pollAll();
    expect(await h.store.taskByIssue(h.project, issue.number)).toBeUndefined();
  });

  it('a forged webhook is refused with 401, logged, and changes nothing', async () => {
    const tasks = (await h.store.listTasks()).length;
    const payload = { action: 'opened', issue: { number: 999, title: 'forged', body: '', state: 'open', labels: [], updated_at: new Date().toISOString() }, repository: { full_name: REPO } };
    expect(await h.fake.forgeWebhook('issues', payload)).toBe(401);
    expect(await h.fake.forgeWebhook('issues', payload, '')).toBe(401);
    expect((await h.store.listTasks()).length).toBe(tasks);
    const log = readFileSync(logFile, 'utf8');
    expect(log).toContain('webhook refused: bad or missing signature');
  });

  it('serves GET /healthz beside the webhook route', async () => {
    const base = `http://${h.coordinator.http!.address}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', github: true });
    expect((await fetch(`${base}/webhooks/github`)).status).toBe(405);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('slash commands: a non-collaborator\'s /close changes nothing; a collaborator\'s /block and /unblock work; fenced text is not a command', async () => {
    const issue = h.fake.openIssue(REPO, { title: 'Commandable', labels: ['agent:worker'] });
    const task = await taskOf(issue.number);
    await waitFor(async () => (await h.store.getTask(task.id))?.status === 'routed', { what: 'routing' });
    h.fake.state.user('mallory');
    h.fake.comment(REPO, issue.number, 'mallory', '/close');
    await h.fake.settled();
    await waitFor(() => readFileSync(logFile, 'utf8').includes('slash command ignored: the author has no write access'), { what: 'the refusal in the log' });
    expect((await h.store.getTask(task.id))!.status).toBe('routed');

    h.fake.collaborator(REPO, 'carol', 'write');
    h.fake.comment(REPO, issue.number, 'carol', 'Example:\n```\n/close\n```\n');
    await h.fake.settled();
    h.fake.comment(REPO, issue.number, 'carol', '/block waiting for the API key');
    const blocked = await waitFor(async () => { const t = await h.store.getTask(task.id); return t?.status === 'blocked' ? t : undefined; }, { what: '/block' });
    expect(blocked.reason).toBe('waiting for the API key');
    await waitFor(() => statusLabels(h, issue.number).join() === 'status:blocked', { what: 'status:blocked' });
    h.fake.comment(REPO, issue.number, 'carol', '/unblock');
    await waitFor(async () => (await h.store.getTask(task.id))?.status === 'routed', { what: '/unblock' });
    const events = (await h.store.events(task.id)).map((e) => e.event);
    expect(events).not.toContain('closed');
  });
});

describe('GitHub sync by polling alone', () => {
  let h: SyncedCoordinator;
  beforeAll(async () => { h = await startSyncedCoordinator({ webhooks: false }); }, 120_000);
  afterEach(() => { expect(h.fake.violations.splice(0)).toEqual([]); });
  afterAll(async () => { await h?.stop(); });

  it('an issue becomes a task on the next poll, with gh.intake_labels limiting intake', async () => {
    await h.stop();
    h = await startSyncedCoordinator({ webhooks: false, orchYml: '  intake_labels: [orch]\n' });
    const wanted = h.fake.openIssue(REPO, { title: 'Wanted', labels: ['orch', 'agent:worker'] });
    const other = h.fake.openIssue(REPO, { title: 'Not for orch' });
    expect(h.fake.deliveries).toEqual([]);
    await h.coordinator.github!.pollAll();
    const task = await h.store.taskByIssue(h.project, wanted.number);
    expect(task?.title).toBe('Wanted');
    expect(await h.store.taskByIssue(h.project, other.number)).toBeUndefined();
    await waitFor(async () => { await h.coordinator.github!.pollAll(); return statusLabels(h, wanted.number).join() === 'status:routed'; }, { what: 'status:routed by polling' });
  });

  it('idle cost: 500 open issues polled every 5 s for 10 minutes of fake time cost a handful of requests', async () => {
    await h.stop();
    h = await startSyncedCoordinator({ webhooks: false, orchYml: '  intake_labels: [orch]\n' });
    for (let i = 0; i < 500; i++) h.fake.openIssue(REPO, { title: `backlog item ${i}` });
    const before = h.fake.counted;
    const polls = (10 * 60) / 5;
    for (let i = 0; i < polls; i++) {
      await h.coordinator.github!.pollAll();
      h.fake.state.clock.advance(5_000);
    }
    const cost = h.fake.counted - before;
    const all = h.fake.requests.length;
    expect(all).toBeGreaterThanOrEqual(polls * 2); // issues and comments every poll
    expect(cost).toBeLessThanOrEqual(8);
    expect((await h.store.listTasks()).length).toBe(0);
    console.log(`idle cost: ${cost} rate-limited requests of ${all} over ${polls} polls`);
  }, 120_000);

  it('a restart while GitHub fails loses no update: the new coordinator sends what the old one could not', async () => {
    await h.stop();
    h = await startSyncedCoordinator({ webhooks: false });
    const issue = h.fake.openIssue(REPO, { title: 'Across a restart', labels: ['agent:worker'] });
    h.fake.fail({ status: 502, times: 1000, operation: 'issues/add-labels' });
    await h.coordinator.github!.pollAll();
    const task = (await h.store.taskByIssue(h.project, issue.number))!;
    await waitFor(async () => (await h.store.getTask(task.id))?.status === 'routed', { what: 'routing' });
    await waitFor(() => h.fake.requests.filter((r) => r.operation === 'issues/add-labels').length >= 2, { what: 'failed label writes' });
    expect(statusLabels(h, issue.number)).toEqual([]);
    await h.restart();
    h.fake.clearFaults(); // GitHub is back
    await waitFor(async () => { await h.coordinator.github!.pollAll(); return statusLabels(h, issue.number).join() === 'status:routed'; }, { timeoutMs: 20_000, what: 'status:routed after the restart' });
    expect((await h.store.listTasks()).filter((t) => t.issueNumber === issue.number)).toHaveLength(1);
  }, 60_000);

  it('a 403 secondary rate limit and a 502 delay sync but lose no update', async () => {
    await h.stop();
    h = await startSyncedCoordinator({ webhooks: false });
    const issue = h.fake.openIssue(REPO, { title: 'Through the storm', labels: ['agent:worker'] });
    h.fake.fail({ status: 502, times: 2, operation: 'issues/list-for-repo' });
    h.fake.fail({ status: 403, secondary: true, retryAfterSeconds: 2, times: 2, operation: 'issues/add-labels' });
    await h.coordinator.github!.pollAll();
    const task = await h.store.taskByIssue(h.project, issue.number);
    expect(task).toBeDefined();
    await waitFor(async () => { await h.coordinator.github!.pollAll(); return statusLabels(h, issue.number).join() === 'status:routed'; }, { timeoutMs: 20_000, what: 'status:routed despite the faults' });
    const statuses = h.fake.requests.filter((r) => r.operation === 'issues/list-for-repo' || r.operation === 'issues/add-labels').map((r) => `${r.operation} ${r.status}`);
    expect(statuses.slice(0, 3)).toEqual(['issues/list-for-repo 502', 'issues/list-for-repo 502', 'issues/list-for-repo 200']);
    expect(statuses.filter((s) => s === 'issues/add-labels 403')).toHaveLength(2);
    const t = (await h.store.getTask(task!.id)) as TaskRow;
    expect(t.status).toBe('routed');
  }, 60_000);
});
