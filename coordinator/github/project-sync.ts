// Sync in for one repository: issues and comments arrive by webhook and, as the safety
// net, by polling with conditional requests. Issues become, edit, close and reopen tasks;
// comments carry slash commands from people with write access; PR events wake the PR
// loop. Work for one repository runs one item at a time, so a webhook and a poll that
// bring the same issue cannot make two tasks.
import { logger } from '../../runtime/log.js';
import { startIntake } from '../../runtime/telemetry/index.js';
import type { ProjectRow, TaskRow } from '../store/store.js';
import { RefusedError, type TaskMsg } from '../task-actor.js';
import { describeError } from './client.js';
import { mayCommand, parseCommands, type SlashCommand } from './commands.js';
import type { SyncHost } from './host.js';
import { intake } from './intake.js';
import type { Outbox } from './outbox.js';
import { commentFromApi, issueFromApi, type CommentData, type GitHubRepo, type IssueData } from './repo-api.js';

const log = logger('github.in');
const PERMISSION_TTL_MS = 5 * 60_000;

export class ProjectSync {
  private chain: Promise<unknown> = Promise.resolve();
  private seenComments = new Set<number>();
  private permissions = new Map<string, { value: string; at: number }>();

  constructor(readonly project: ProjectRow, readonly repo: GitHubRepo, private readonly host: SyncHost, readonly outbox: Outbox, private readonly self: { login: string }) {}

  /** Run `fn` after everything queued before it for this repository. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  // ---- issues

  handleIssue(issue: IssueData, opts: { reopened?: boolean; via?: 'webhook' | 'poll' } = {}): Promise<void> {
    return this.serial(() => this.applyIssue(issue, opts));
  }

  private async applyIssue(issue: IssueData, opts: { reopened?: boolean; via?: 'webhook' | 'poll' }): Promise<void> {
    const cfg = this.host.config(this.project.name);
    const task = await this.host.store.taskByIssue(this.project.name, issue.number);
    const action = intake(issue, task, { intakeLabels: cfg.gh.intake_labels, reopened: opts.reopened });
    switch (action.kind) {
      case 'none':
        log.debug('issue ignored', { project: this.project.name, issue: issue.number, why: action.why });
        return;
      case 'create': {
        // The task's trace starts with the issue's arrival.
        const { span, trace } = startIntake(opts.via ?? 'webhook', { 'orch.project': this.project.name, 'orch.issue': issue.number });
        const t = await this.host.store.createTask({ project: this.project.name, title: issue.title, body: issue.body, labels: action.labels, issueNumber: issue.number, trace })
          .then((x) => { span.setAttribute('orch.task', x.id); return x; }).finally(() => span.end());
        await this.host.sync.set(t.id, { issueNodeId: issue.nodeId });
        log.info('issue became a task', { project: this.project.name, issue: issue.number, task: t.id });
        this.host.created(t);
        this.outbox.mark(t.id);
        return;
      }
      case 'edit':
        await this.act(task!, { op: 'external', ev: { type: 'edited', what: action.what }, patch: action.patch });
        return;
      case 'close': {
        await this.host.sync.set(task!.id, { issueClosed: true }); // closed there already: orch need not close it
        // Closed by its PR's merge ("Closes #N"): the task ends as merged, not as closed by hand.
        if (task!.status === 'in_review' && task!.prNumber !== null) {
          await this.outbox.judge(task!);
          if ((await this.host.store.getTask(task!.id))?.status === 'done') return;
        }
        await this.act(task!, { op: 'close', note: `issue #${issue.number} closed on GitHub` });
        return;
      }
      case 'reopen':
        await this.host.sync.set(task!.id, { issueClosed: false });
        await this.act(task!, { op: 'retry' });
        return;
    }
  }

  private async act(task: TaskRow, msg: TaskMsg): Promise<TaskRow | undefined> {
    try {
      return await this.host.ask(task.id, msg);
    } catch (err) {
      if (err instanceof RefusedError) { log.info('change from GitHub not applied', { task: task.id, why: err.message }); return undefined; }
      throw err;
    }
  }

  // ---- tasks from the CLI

  /** `orch task add` in a gh.repo project: the issue first, then the task that mirrors it. */
  createWithIssue(t: { title: string; body: string; labels: string[]; agent?: string; complexity?: string; trace?: Record<string, string> }): Promise<TaskRow> {
    return this.serial(async () => {
      const issue = await this.repo.createIssue(t.title, t.body, t.labels);
      const task = await this.host.store.createTask({ project: this.project.name, title: t.title, body: t.body, labels: t.labels, agent: t.agent, complexity: t.complexity, issueNumber: issue.number, trace: t.trace });
      await this.host.sync.set(task.id, { issueNodeId: issue.nodeId });
      log.info('task created with its issue', { project: this.project.name, task: task.id, issue: issue.number });
      this.host.created(task);
      this.outbox.mark(task.id);
      return task;
    });
  }

  /** `orch task publish`: an internal task gets an issue. */
  publish(taskId: number): Promise<TaskRow> {
    return this.serial(async () => {
      const task = await this.host.store.getTask(taskId);
      if (!task) throw new RefusedError(`task ${taskId} not found`);
      if (task.issueNumber !== null) throw new RefusedError(`task ${taskId} is already issue #${task.issueNumber}`);
      const issue = await this.repo.createIssue(task.title, task.body, task.labels);
      await this.host.sync.set(task.id, { issueNodeId: issue.nodeId });
      const next = await this.host.ask(task.id, { op: 'external', ev: { type: 'edited', what: `published as issue #${issue.number}` }, patch: { issueNumber: issue.number } });
      this.outbox.mark(task.id);
      return next;
    });
  }

  // ---- comments and slash commands

  handleComment(c: CommentData): Promise<void> {
    return this.serial(() => this.applyComment(c));
  }

  private async applyComment(c: CommentData): Promise<void> {
    if (this.seenComments.has(c.id)) return;
    this.seenComments.add(c.id);
    if (c.user === this.self.login || c.onPull) return;
    const parsed = parseCommands(c.body);
    if (parsed.unknown.length) log.info('unknown slash commands ignored', { project: this.project.name, issue: c.issueNumber, user: c.user, commands: parsed.unknown });
    if (!parsed.commands.length) return;
    const permission = await this.permission(c.user);
    if (!mayCommand(permission)) {
      log.warn('slash command ignored: the author has no write access', { project: this.project.name, issue: c.issueNumber, user: c.user, permission, commands: parsed.commands.map((x) => x.name) });
      return;
    }
    const task = await this.host.store.taskByIssue(this.project.name, c.issueNumber);
    if (!task) { log.info('slash command on an issue without a task', { issue: c.issueNumber, user: c.user }); return; }
    for (const cmd of parsed.commands) {
      log.info('slash command', { project: this.project.name, task: task.id, issue: c.issueNumber, user: c.user, command: cmd.name });
      await this.command(task.id, cmd, c.user);
    }
  }

  private async command(taskId: number, cmd: SlashCommand, user: string): Promise<void> {
    const task = (await this.host.store.getTask(taskId))!;
    switch (cmd.name) {
      case 'retry': await this.act(task, { op: 'retry' }); return;
      case 'close': await this.act(task, { op: 'close', note: `closed by ${user} (/close)` }); return;
      case 'block': await this.act(task, { op: 'external', ev: { type: 'block', reason: cmd.reason || `blocked by ${user}`, by: user } }); return;
      // A person deciding to go on: the attempt budget starts over (as for orch task retry).
      case 'unblock': await this.act(task, { op: 'external', ev: { type: 'unblock', by: user }, patch: { spent: 0 } }); return;
      case 'reroute': await this.act(task, { op: 'external', ev: { type: 'reroute', agent: cmd.agent, by: user }, patch: { agent: cmd.agent, spent: 0 } }); return;
      case 'review': await this.outbox.judge(task, { review: true }); return;
    }
  }

  private async permission(user: string): Promise<string> {
    const hit = this.permissions.get(user);
    if (hit && Date.now() - hit.at < PERMISSION_TTL_MS) return hit.value;
    const value = await this.repo.permission(user);
    this.permissions.set(user, { value, at: Date.now() });
    return value;
  }

  // ---- webhooks

  /** A verified webhook for this repository. */
  async webhook(event: string, payload: any): Promise<void> {
    switch (event) {
      case 'issues': {
        if ((payload.action === 'labeled' || payload.action === 'unlabeled') && /^status:/i.test(payload.label?.name ?? '')) return; // our own
        await this.handleIssue(issueFromApi(payload.issue), { reopened: payload.action === 'reopened', via: 'webhook' });
        return;
      }
      case 'issue_comment':
        if (payload.action !== 'created' && payload.action !== 'edited') return;
        await this.handleComment({ ...commentFromApi(payload.comment), issueNumber: payload.issue.number, onPull: !!payload.issue.pull_request });
        return;
      case 'pull_request':
      case 'pull_request_review':
        await this.wakePr(payload.pull_request?.number);
        return;
      case 'check_run':
        for (const p of payload.check_run?.pull_requests ?? []) await this.wakePr(p.number);
        return;
      case 'check_suite':
        for (const p of payload.check_suite?.pull_requests ?? []) await this.wakePr(p.number);
        return;
      case 'status':
        for (const b of payload.branches ?? []) {
          const t = await this.host.sync.taskByBranch(this.project.name, b.name);
          if (t) await this.serial(() => this.outbox.judge(t));
        }
        return;
      default:
        log.debug('webhook event not used', { event });
    }
  }

  private async wakePr(n: number | undefined): Promise<void> {
    if (!n) return;
    const t = await this.host.sync.taskByPr(this.project.name, n);
    if (t) await this.serial(async () => this.outbox.judge((await this.host.store.getTask(t.id))!));
  }

  // ---- polling

  /** One poll: issues and comments changed since last time (304s when idle), then every PR in review. */
  async poll(): Promise<void> {
    await this.serial(() => this.pollIssues());
    await this.serial(() => this.pollComments());
    for (const t of await this.host.sync.tasksInReview(this.project.name)) {
      await this.serial(async () => this.outbox.judge((await this.host.store.getTask(t.id))!)).catch((err) =>
        log.warn('PR check failed; next poll retries', { task: t.id, err: describeError(err) }));
    }
    const autoClose = this.host.config(this.project.name).workflow.auto_close;
    for (const id of await this.host.sync.tasksToReconcile(this.project.name, autoClose)) this.outbox.mark(id);
  }

  private async pollIssues(): Promise<void> {
    const c = await this.host.sync.cursor(this.project.name, 'issues');
    const r = await this.repo.issuesSince(c.since, c.etag);
    if (r.notModified) return;
    let since = c.since;
    for (const issue of r.issues) {
      await this.applyIssue(issue, { via: 'poll' });
      if (issue.updatedAt > since) since = issue.updatedAt;
    }
    await this.host.sync.setCursor(this.project.name, 'issues', { since, etag: since === c.since ? r.etag : '' });
  }

  private async pollComments(): Promise<void> {
    const c = await this.host.sync.cursor(this.project.name, 'comments');
    if (!c.since) {
      // First poll: start from now; comments written before orch watched are not commands to it.
      await this.host.sync.setCursor(this.project.name, 'comments', { since: new Date().toISOString(), etag: '' });
      return;
    }
    const r = await this.repo.commentsSince(c.since, c.etag);
    if (r.notModified) return;
    let since = c.since;
    for (const cm of r.comments) {
      await this.applyComment(cm);
      if (cm.updatedAt > since) since = cm.updatedAt;
    }
    await this.host.sync.setCursor(this.project.name, 'comments', { since, etag: since === c.since ? r.etag : '' });
  }
}
