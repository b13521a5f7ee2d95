// Sync out and the PR loops for one repository. Each task change marks the task dirty;
// reconcile() brings GitHub in line with the task (one status label, result comments,
// the PR once in review, the issue closed when done, the board column), remembering what
// it sent in github_task_sync so a retry after a failure or restart sends only the rest.
// judge() reads a PR's checks and reviews and sends the task back, or merges it.
import { logger } from '../../runtime/log.js';
import { redact } from '../../runtime/redact.js';
import { inTaskSpan } from '../../runtime/telemetry/index.js';
import type { AttemptRow, ProjectRow, TaskRow } from '../store/store.js';
import { RefusedError } from '../task-actor.js';
import type { BoardSync } from './board-sync.js';
import { describeError } from './client.js';
import { resultComment, type AttemptView } from './comments.js';
import type { SyncHost } from './host.js';
import type { TaskStatus } from '../lifecycle.js';
import { labelPlan, labelSteps } from './labels.js';
import { judgePr, prBody, prTitle, type AnswerView, type PrVerdict } from './pr.js';
import { parseReview, pickReviewer, REVIEW_SYSTEM, reviewBody, reviewPrompt, type ReviewVerdict } from './review-agent.js';
import { AskError, type AskResult } from '../ask.js';
import type { GitHubRepo, PullData } from './repo-api.js';

const log = logger('github.out');
const ENDED: AttemptRow['state'][] = ['succeeded', 'failed', 'lost', 'killed'];

export class Outbox {
  private dirty = new Set<number>();
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 1000;
  private stopped = false;
  /** Tasks whose PR the review agent is reading now. */
  private reviewing = new Set<number>();

  constructor(private readonly project: ProjectRow, private readonly repo: GitHubRepo, private readonly host: SyncHost, private readonly board: BoardSync | undefined) {}

  mark(taskId: number): void {
    this.dirty.add(taskId);
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  /** Resolves when nothing is dirty (or the last pass failed and a retry is scheduled). */
  async idle(): Promise<void> { while (this.running) await this.running; }

  get pending(): number { return this.dirty.size; }

  kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.drain().finally(() => { this.running = undefined; });
  }

  private async drain(): Promise<void> {
    const failed = new Set<number>();
    while (!this.stopped) {
      const id = [...this.dirty].find((x) => !failed.has(x));
      if (id === undefined) break;
      this.dirty.delete(id);
      try {
        await this.reconcile(id);
      } catch (err) {
        failed.add(id);
        log.warn('GitHub sync out failed; will retry', { project: this.project.name, task: id, err: describeError(err), retryInMs: this.backoffMs });
      }
    }
    if (!failed.size) { this.backoffMs = 1000; return; }
    // One task's trouble does not hold up the others; the failed ones come back after a pause.
    for (const id of failed) this.dirty.add(id);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.kick(), this.backoffMs);
    this.retryTimer.unref();
    this.backoffMs = Math.min(60_000, this.backoffMs * 2);
  }

  private async reconcile(id: number): Promise<void> {
    const task = await this.host.store.getTask(id);
    if (!task) return;
    // One span per pass in the task's trace; the API calls it makes are its CLIENT children.
    await inTaskSpan('orch.github.update', task.trace, { 'orch.task': id, 'orch.project': task.project, 'orch.status': task.status, ...(task.issueNumber !== null ? { 'orch.issue': task.issueNumber } : {}) },
      () => this.update(task));
  }

  private async update(task: TaskRow): Promise<void> {
    const id = task.id;
    const cfg = this.host.config(task.project);
    const s = await this.host.sync.get(id);
    const n = task.issueNumber;

    if (n !== null) {
      // One label per transition since the last one shown, in order. Remove first: the issue
      // never shows two status labels, at worst none for a moment.
      let shown = s.statusLabel;
      for (const step of labelSteps(await this.host.store.events(id), s.labelEvent, shown)) {
        if (step.label !== shown) {
          const plan = labelPlan(shown ? [shown] : [], step.label.slice('status:'.length) as TaskStatus);
          for (const l of plan.remove) await this.repo.removeLabel(n, l);
          for (const l of plan.add) await this.repo.addLabel(n, l);
          shown = step.label;
        }
        await this.host.sync.set(id, { statusLabel: shown, labelEvent: step.event });
      }
    }

    if (s.commentedAttempt < task.attempts) {
      for (const a of await this.host.store.listAttempts(id)) {
        if (a.number <= s.commentedAttempt) continue;
        if (!ENDED.includes(a.state)) break;
        if (n !== null && a.number > s.delegatedAttempt) await this.delegate(task, n, a);
        if (n !== null) await this.repo.comment(n, resultComment(id, task.status, attemptView(a)));
        if (task.prNumber !== null && answerOf(a)) await this.repo.updatePull(task.prNumber, { body: prBody({ taskId: id, issueNumber: n, answer: answerOf(a) }) });
        await this.host.sync.set(id, { commentedAttempt: a.number });
      }
    }

    if (task.status === 'in_review' && task.prNumber === null) await this.openPull(task);

    if (n !== null && task.status === 'done' && cfg.workflow.auto_close && !s.issueClosed
      && (await this.host.store.getTask(id))?.status === 'done') { // not reopened meanwhile
      await this.repo.setIssueState(n, 'closed');
      await this.host.sync.set(id, { issueClosed: true });
    } else if (n !== null && task.status !== 'done' && s.issueClosed) {
      await this.host.sync.set(id, { issueClosed: false }); // reopened: a later done closes it again
    }

    if (n !== null && this.board) await this.board.place(task, s);
  }

  /** The agent's delegations become issues (and so tasks), linked as sub-issues of the task's issue. */
  private async delegate(task: TaskRow, n: number, a: AttemptRow): Promise<void> {
    const delegations = (answerOf(a) as { delegations?: Array<{ title: string; body: string; labels: string[] }> } | null)?.delegations ?? [];
    if (delegations.length) {
      const parent = (await this.host.sync.get(task.id)).issueNodeId || (await this.repo.getIssue(n)).nodeId;
      for (const d of delegations) {
        const child = await this.repo.createIssue(redact(d.title), redact(`${d.body}\n\nDelegated by orch task ${task.id} (#${n}).`), d.labels ?? []);
        await this.repo.addSubIssue(parent, child.nodeId);
        log.info('delegation became a sub-issue', { task: task.id, parent: n, issue: child.number });
      }
    }
    await this.host.sync.set(task.id, { delegatedAttempt: a.number });
  }

  private async openPull(task: TaskRow): Promise<void> {
    const attempts = await this.host.store.listAttempts(task.id);
    const answer = [...attempts].reverse().map(answerOf).find(Boolean) ?? null;
    let number = await this.repo.openPullFor(task.branch);
    if (number === undefined) {
      number = await inTaskSpan('orch.github.pr create', undefined, { 'orch.task': task.id, 'orch.branch': task.branch, 'orch.base_branch': this.project.defaultBranch }, async (span) => {
        const n = await this.repo.createPull({ title: prTitle(task.title, task.id), body: prBody({ taskId: task.id, issueNumber: task.issueNumber, answer }), head: task.branch, base: this.project.defaultBranch });
        span.setAttribute('orch.pr', n);
        return n;
      });
      log.info('pull request opened', { project: this.project.name, task: task.id, pr: number });
    }
    await this.host.ask(task.id, { op: 'external', ev: { type: 'pr_opened', number }, patch: { prNumber: number } });
  }

  /** Read the task's PR and act on it: send it back for CI or review, merge it, or wait. `review`: run the review agent now (`/review`). */
  async judge(task: TaskRow, o: { review?: boolean } = {}): Promise<void> {
    if (task.status !== 'in_review' || task.prNumber === null) return;
    const started = Date.now();
    const cfg = this.host.config(task.project);
    const s = await this.host.sync.get(task.id);
    const pr = await this.repo.pull(task.prNumber);
    const [checks, reviews] = pr.state === 'open' ? await Promise.all([this.repo.checks(pr.headSha), this.repo.reviews(pr.number)]) : [[], []];
    const v = judgePr({ state: pr.state, merged: pr.merged, headSha: pr.headSha, judgedHead: s.prJudgedHead, reviewSeen: s.reviewSeen, checks, reviews });
    // Only a verdict that acts becomes a span (a PR waiting for CI is read every poll): the CI
    // and review loops in the task's trace, timed from the reading of the PR.
    const reviewStarts = v.kind === 'green' ? (cfg.workflow.enable_review_agent && s.reviewAgentHead !== pr.headSha) || !!o.review : v.kind === 'wait' && !!o.review;
    const agentApproved = s.reviewAgentHead === pr.headSha && s.reviewAgentVerdict === 'approve';
    const merges = v.kind === 'green' && !reviewStarts && (v.approved || agentApproved) && cfg.workflow.auto_merge;
    if ((v.kind === 'wait' || v.kind === 'green') && !reviewStarts && !merges) return;
    await inTaskSpan('orch.github.pr verdict', task.trace, {
      'orch.task': task.id, 'orch.pr': pr.number, 'orch.pr.verdict': v.kind, 'orch.pr.head': pr.headSha,
      ...(v.kind === 'ci_failed' ? { 'orch.pr.check': v.check, 'orch.ci_fixes': s.ciFixes + 1 } : {}),
      ...(v.kind === 'changes_requested' ? { 'orch.pr.reviewer': v.review.user } : {}),
      ...(reviewStarts ? { 'orch.pr.review_agent': true } : {}),
    }, () => this.act(task, pr, v, s, cfg, o), started);
  }

  private async act(task: TaskRow, pr: PullData, v: PrVerdict, s: Awaited<ReturnType<SyncHost['sync']['get']>>, cfg: ReturnType<SyncHost['config']>, o: { review?: boolean }): Promise<void> {
    const ask = (msg: Parameters<SyncHost['ask']>[1]) => this.host.ask(task.id, msg).catch((err) => {
      if (err instanceof RefusedError) log.info('PR verdict not applied', { task: task.id, why: err.message });
      else throw err;
    });
    switch (v.kind) {
      case 'merged':
        await ask({ op: 'external', ev: { type: 'merged', number: pr.number } });
        return;
      case 'closed':
        await ask({ op: 'external', ev: { type: 'block', reason: `PR #${pr.number} was closed without merging`, by: 'github' } });
        return;
      case 'ci_failed': {
        log.info('CI failed; sending the task back', { task: task.id, check: v.check, fixes: s.ciFixes });
        await this.host.sync.set(task.id, { prJudgedHead: pr.headSha, ciFixes: s.ciFixes + 1 });
        await ask({ op: 'external', ev: { type: 'ci_failed', check: v.check, fixes: s.ciFixes, maxFixes: cfg.workflow.max_ci_fixes },
          memory: { attempt: task.attempts, agent: task.agent, model: task.model, outcome: `CI check "${v.check}" failed on the PR`, summary: 'Fix the failure on the same branch.', error: v.excerpt } });
        return;
      }
      case 'changes_requested':
        await this.host.sync.set(task.id, { reviewSeen: v.review.id });
        await ask({ op: 'external', ev: { type: 'changes_requested', by: v.review.user },
          memory: { attempt: task.attempts, agent: task.agent, model: task.model, outcome: `review by ${v.review.user} requested changes`, summary: 'Address the review on the same branch.', error: v.review.body } });
        return;
      case 'green': {
        // The review agent reads each new head once (before any merge); its approval counts.
        if ((cfg.workflow.enable_review_agent && s.reviewAgentHead !== pr.headSha) || o.review) {
          this.startAgentReview(task, pr.number, pr.headSha, !!o.review);
          return;
        }
        const agentApproved = s.reviewAgentHead === pr.headSha && s.reviewAgentVerdict === 'approve';
        if ((v.approved || agentApproved) && cfg.workflow.auto_merge) {
          await this.repo.merge(pr.number, pr.headSha, prTitle(task.title, task.id));
          await this.repo.deleteBranch(pr.headRef);
          log.info('pull request merged', { task: task.id, pr: pr.number });
          await ask({ op: 'external', ev: { type: 'merged', number: pr.number } });
        }
        return;
      }
      case 'wait':
        if (o.review) this.startAgentReview(task, pr.number, pr.headSha, true);
        return;
    }
  }

  private startAgentReview(task: TaskRow, pr: number, head: string, force: boolean): void {
    if (this.reviewing.has(task.id) || this.stopped) return;
    this.reviewing.add(task.id);
    void this.agentReview(task, pr, head, force)
      .catch((err) => log.warn('review agent: could not finish; the next poll tries again', { task: task.id, pr, err: describeError(err) }))
      .finally(() => this.reviewing.delete(task.id));
  }

  /** Have the review agent read the PR's diff, post its review, and act on it. */
  private async agentReview(task: TaskRow, pr: number, head: string, force: boolean): Promise<void> {
    const cfg = this.host.config(task.project);
    // A judge() that read the sync state before the last review ended must not review the head again.
    if (!force && (await this.host.sync.get(task.id)).reviewAgentHead === head) return;
    const reviewer = pickReviewer({ taskAgent: task.agent, fleet: this.host.fleetAgents?.() ?? [], configured: cfg.workflow.review_agent });
    if (!this.host.asker || !reviewer) {
      log.warn('review agent: no agent to review with; the PR waits for people', { task: task.id, pr });
      await this.host.sync.set(task.id, { reviewAgentHead: head, reviewAgentVerdict: 'error' });
      await this.host.store.note(task.id, 'review_agent_failed', 'no live node has an agent to review with');
      return;
    }
    // Bounded like the CI loop: after max_ci_fixes rounds of requested changes, people decide.
    const rounds = (await this.host.store.events(task.id)).filter((e) => e.event === 'review_agent' && e.detail.includes(': request_changes')).length;
    if (rounds >= cfg.workflow.max_ci_fixes) {
      log.info('review agent: rounds used up; the PR waits for people', { task: task.id, pr, rounds });
      await this.host.sync.set(task.id, { reviewAgentHead: head, reviewAgentVerdict: 'error' });
      await this.host.store.note(task.id, 'review_agent_failed', `the review agent requested changes ${rounds} times; the PR waits for a person`);
      return;
    }
    const listed = cfg.model_map?.review?.[reviewer.agent];
    const model = this.host.reviewModel?.(task.project, reviewer.agent) ?? (Array.isArray(listed) ? listed[0] ?? '' : listed ?? '');
    const memory = (task.memory as Array<{ diff?: string }>).filter((m) => m.diff);
    const prompt = reviewPrompt({ title: task.title, body: task.body, prNumber: pr, diff: memory[memory.length - 1]?.diff ?? '', files: task.filesChanged });
    log.info('review agent: reviewing', { task: task.id, pr, agent: reviewer.agent, model, sameAsAuthor: reviewer.sameAsAuthor });
    let verdict: ReviewVerdict;
    let res: AskResult;
    try {
      res = await this.host.asker.ask({
        purpose: 'review', agent: reviewer.agent, model, system: REVIEW_SYSTEM, prompt, taskId: task.id, trace: task.trace,
        timeoutMs: (cfg.workflow.review_timeout_seconds ?? 600) * 1000,
      });
      verdict = parseReview(res.text);
    } catch (err) {
      // A failed or unreadable review: logged with its reason; the PR waits for people.
      const why = err instanceof AskError ? `${err.errorClass}: ${err.message}` : (err as Error).message;
      log.warn('review agent: no verdict; the PR waits for people', { task: task.id, pr, agent: reviewer.agent, why });
      await this.host.sync.set(task.id, { reviewAgentHead: head, reviewAgentVerdict: 'error' });
      await this.host.store.note(task.id, 'review_agent_failed', redact(`${reviewer.agent}: ${why}`).slice(0, 500));
      return;
    }
    const posted = await this.repo.createReview(pr, head, verdict.decision === 'approve' ? 'APPROVE' : 'REQUEST_CHANGES', reviewBody(verdict, { agent: reviewer.agent, model: res.model }));
    const s = await this.host.sync.get(task.id);
    // Our own review comes back in the PR's reviews: it is acted on here, not again by judge().
    await this.host.sync.set(task.id, { reviewAgentHead: head, reviewAgentVerdict: verdict.decision, reviewSeen: Math.max(s.reviewSeen, posted.id) });
    await this.host.store.note(task.id, 'review_agent', `${reviewer.agent}${res.model ? `/${res.model}` : ''} on ${res.node}: ${verdict.decision}`
      + ` (${res.inputTokens + res.cacheReadTokens + res.cacheWriteTokens} in / ${res.outputTokens} out tokens, $${res.costUsd.toFixed(4)})`);
    log.info('review agent: verdict', { task: task.id, pr, decision: verdict.decision, agent: reviewer.agent, posted: posted.event });
    const now = await this.host.store.getTask(task.id);
    if (!now || now.status !== 'in_review') return;
    if (verdict.decision === 'request_changes') {
      await this.host.ask(task.id, {
        op: 'external', ev: { type: 'changes_requested', by: `review agent ${reviewer.agent}` },
        memory: { attempt: now.attempts, agent: now.agent, model: now.model, outcome: `the review agent (${reviewer.agent}) requested changes`,
          summary: 'Address the review on the same branch.', error: [verdict.summary, ...verdict.comments.map((c) => `- ${c}`)].join('\n') },
      }).catch((err) => { if (!(err instanceof RefusedError)) throw err; });
      return;
    }
    await this.judge(now);
  }
}

function answerOf(a: AttemptRow): AnswerView | null {
  const r = a.result as { answer?: AnswerView | null } | null;
  return r?.answer ?? null;
}

function attemptView(a: AttemptRow): AttemptView {
  return { number: a.number, agent: a.agent, model: a.model, state: a.state, summary: a.summary, errorClass: a.errorClass, errorMessage: a.errorMessage,
    inputTokens: a.inputTokens, outputTokens: a.outputTokens, costUsd: a.costUsd, durationMs: a.durationMs, answer: answerOf(a) as AttemptView['answer'] };
}
