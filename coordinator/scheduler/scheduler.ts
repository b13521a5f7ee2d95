// The job scheduler: on a timer (to the next due time, at most a minute away) or on
// `orch job tick`, fires every job that is due. Only a leading coordinator has one (each
// term of leadership builds its own), and a run fires once however many tick (JobStore).
// A job never overlaps itself: while the task of its last run is open, a due run is skipped.
import { logger } from '../../runtime/log.js';
import { startIntake } from '../../runtime/telemetry/index.js';
import type { JobRow, JobStore } from '../store/jobs.js';
import type { TaskRow } from '../store/rows.js';
import { dueAt, nextAt, parseSchedule } from './cron.js';

const log = logger('scheduler');

export interface Fired {
  job: string;
  scheduledAt: Date;
  /** The task it created, or why it did not fire. */
  taskId?: number;
  skipped?: string;
  /** Bash jobs: the run started (it ends in the background; `orch job runs` shows it). */
  note?: string;
}

export interface SchedulerDeps {
  jobs: JobStore;
  /** Is this task still open (not done)? */
  taskOpen(taskId: number): Promise<boolean>;
  /** A task was created by a job: route it. */
  created(task: TaskRow): void;
  /** Fire a bash job's run (bash-jobs.ts); without it bash jobs are skipped. */
  runBash?(job: JobRow, at: Date): Promise<Fired>;
  now?: () => Date;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ticking: Promise<Fired[]> | undefined;

  constructor(private readonly deps: SchedulerDeps) {}

  private now(): Date { return this.deps.now?.() ?? new Date(); }

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** The jobs changed (added, enabled): plan the timer again now. */
  wake(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    void this.loop();
  }

  /** Each plan of the timer; an older one (superseded by a wake) sets none. */
  private generation = 0;

  private async loop(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.generation;
    let wait = 60_000;
    try {
      await this.tick();
      const now = this.now();
      for (const j of await this.deps.jobs.list()) {
        if (!j.enabled) continue;
        const cron = parseSchedule(j.schedule, j.timezone);
        if (typeof cron === 'string') continue;
        const next = nextAt(cron, now);
        if (next) wait = Math.min(wait, Math.max(50, next.getTime() - now.getTime() + 5));
      }
    } catch (err) {
      log.warn('scheduler tick failed; trying again', { err });
      wait = 5_000;
    }
    if (this.stopped || gen !== this.generation) return;
    this.timer = setTimeout(() => void this.loop(), wait);
    this.timer.unref();
  }

  /** Fire what is due now, once. Concurrent calls share one pass. */
  tick(): Promise<Fired[]> {
    this.ticking ??= this.pass().finally(() => { this.ticking = undefined; });
    return this.ticking;
  }

  private async pass(): Promise<Fired[]> {
    const now = this.now();
    const out: Fired[] = [];
    for (const job of await this.deps.jobs.list()) {
      if (!job.enabled) continue;
      const cron = parseSchedule(job.schedule, job.timezone);
      if (typeof cron === 'string') { log.warn('job has an invalid schedule; skipped', { job: job.id, why: cron }); continue; }
      const at = dueAt(cron, { lastScheduled: job.lastScheduled, since: job.createdAt, now });
      if (!at) continue;
      out.push(await this.fire(job, at));
    }
    return out;
  }

  private async fire(job: JobRow, at: Date): Promise<Fired> {
    if (job.type === 'bash' && this.deps.runBash) return this.deps.runBash(job, at);
    if (job.type !== 'task') {
      const why = 'bash jobs are not supported yet';
      await this.deps.jobs.skip(job, at, why);
      return { job: job.id, scheduledAt: at, skipped: why };
    }
    if (job.lastTaskId && (await this.deps.taskOpen(job.lastTaskId))) {
      const why = `the task of its previous run (#${job.lastTaskId}) is still open`;
      await this.deps.jobs.skip(job, at, why);
      log.info('job run skipped: no overlap', { job: job.id, at: at.toISOString(), previous: job.lastTaskId });
      return { job: job.id, scheduledAt: at, skipped: why };
    }
    const intake = startIntake('job', { 'orch.project': job.project, 'orch.job': job.id });
    const task = await this.deps.jobs.fireTask(job, at, intake.trace).finally(() => intake.span.end());
    if (!task) return { job: job.id, scheduledAt: at, skipped: 'already fired' };
    log.info('job fired', { job: job.id, at: at.toISOString(), task: task.id });
    this.deps.created(task);
    return { job: job.id, scheduledAt: at, taskId: task.id };
  }
}
