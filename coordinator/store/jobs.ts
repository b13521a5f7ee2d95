// Scheduled jobs in the store: definitions (from config files or the CLI) and their runs.
// Firing a task job is one transaction: the run row (unique per job and scheduled time)
// and the task it creates, so two coordinators ticking together fire a run once.
import type pg from 'pg';
import { NotFoundError } from './errors.js';
import { insertTask, type Store } from './store.js';
import type { TaskRow } from './rows.js';

export interface JobRow {
  id: string;
  project: string;
  schedule: string;
  timezone: string;
  type: 'task' | 'bash';
  title: string;
  body: string;
  labels: string[];
  command: string;
  enabled: boolean;
  source: 'cli' | 'config';
  createdAt: Date;
  /** The scheduled time of its last run (fired or skipped). */
  lastScheduled?: Date;
  /** The task its last fired run created. */
  lastTaskId?: number;
  /** Bash jobs: how long a run may take. */
  timeoutSeconds: number;
  /** How its last run went (fired, running, succeeded, failed: …, skipped: …). */
  lastOutcome?: string;
}

export type NewJob = Omit<JobRow, 'createdAt' | 'lastScheduled' | 'lastTaskId' | 'timeoutSeconds' | 'lastOutcome'> & { timeoutSeconds?: number };

/** One run of a job as the store keeps it. */
export interface JobRunRow {
  scheduledAt: Date;
  firedAt: Date;
  outcome: string;
  taskId?: number;
  node: string;
  exitCode: number | null;
  output: string;
  durationMs: number;
  finishedAt: Date | null;
}

/** How a bash run ended. */
export interface BashRunEnd {
  outcome: string;
  node: string;
  exitCode: number | null;
  output: string;
  durationMs: number;
}

const SELECT = `select j.*, r.scheduled_at as last_scheduled, r.task_id as last_task_id, r.outcome as last_outcome
  from jobs j left join lateral (select scheduled_at, task_id, outcome from job_runs where job_id = j.id order by scheduled_at desc limit 1) r on true`;

function jobRow(r: Record<string, any>): JobRow {
  return {
    id: r.id, project: r.project, schedule: r.schedule, timezone: r.timezone, type: r.type, title: r.title, body: r.body,
    labels: r.labels, command: r.command, enabled: r.enabled, source: r.source, createdAt: r.created_at,
    ...(r.last_scheduled ? { lastScheduled: r.last_scheduled } : {}), ...(r.last_task_id ? { lastTaskId: Number(r.last_task_id) } : {}),
    timeoutSeconds: r.timeout_seconds ?? 600, ...(r.last_outcome ? { lastOutcome: r.last_outcome } : {}),
  };
}

export class JobStore {
  constructor(private readonly pool: pg.Pool, private readonly store: Store) {}

  async list(): Promise<JobRow[]> {
    return (await this.pool.query(`${SELECT} order by j.id`)).rows.map(jobRow);
  }

  async get(id: string): Promise<JobRow | undefined> {
    const r = await this.pool.query(`${SELECT} where j.id = $1`, [id]);
    return r.rows[0] ? jobRow(r.rows[0]) : undefined;
  }

  /** Add or replace a job (a config file's jobs are re-applied at every load). */
  async upsert(j: NewJob): Promise<JobRow> {
    await this.pool.query(
      `insert into jobs (id, project, schedule, timezone, type, title, body, labels, command, enabled, source, timeout_seconds)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       on conflict (id) do update set project = excluded.project, schedule = excluded.schedule, timezone = excluded.timezone,
         type = excluded.type, title = excluded.title, body = excluded.body, labels = excluded.labels, command = excluded.command,
         enabled = excluded.enabled, source = excluded.source, timeout_seconds = excluded.timeout_seconds`,
      [j.id, j.project, j.schedule, j.timezone, j.type, j.title, j.body, j.labels, j.command, j.enabled, j.source, j.timeoutSeconds ?? 600]);
    return (await this.get(j.id))!;
  }

  async remove(id: string): Promise<JobRow> {
    const j = await this.get(id);
    if (!j) throw new NotFoundError(`job ${id} not found (orch job list shows the jobs)`);
    await this.pool.query('delete from jobs where id = $1', [id]);
    return j;
  }

  async setEnabled(id: string, enabled: boolean): Promise<JobRow> {
    const r = await this.pool.query('update jobs set enabled = $2 where id = $1', [id, enabled]);
    if (!r.rowCount) throw new NotFoundError(`job ${id} not found (orch job list shows the jobs)`);
    return (await this.get(id))!;
  }

  /** Config jobs no longer in any config file go away (CLI jobs stay). */
  async removeConfigJobsExcept(ids: string[]): Promise<string[]> {
    const r = await this.pool.query<{ id: string }>(`delete from jobs where source = 'config' and not (id = any($1)) returning id`, [ids]);
    return r.rows.map((x) => x.id);
  }

  /**
   * Fire a task job's run scheduled at `at`: the run and its task in one transaction.
   * Undefined when this run was already fired (by us or another coordinator).
   */
  async fireTask(job: JobRow, at: Date, trace?: Record<string, string>): Promise<TaskRow | undefined> {
    return this.store.transaction(async (c) => {
      const run = await c.query(`insert into job_runs (job_id, scheduled_at, outcome) values ($1, $2, 'fired') on conflict do nothing returning job_id`, [job.id, at]);
      if (!run.rowCount) return undefined;
      const task = await insertTask(c, {
        project: job.project, title: job.title, body: job.body, labels: [...new Set([...job.labels, 'scheduled', `job:${job.id}`])], trace,
      });
      await c.query('update job_runs set task_id = $3 where job_id = $1 and scheduled_at = $2', [job.id, at, task.id]);
      return task;
    });
  }

  /** Record a run that did not fire (its previous run is still open); false when already recorded. */
  async skip(job: JobRow, at: Date, why: string): Promise<boolean> {
    const r = await this.pool.query(`insert into job_runs (job_id, scheduled_at, outcome) values ($1, $2, $3) on conflict do nothing`, [job.id, at, `skipped: ${why}`]);
    return (r.rowCount ?? 0) > 0;
  }

  async runs(id: string, limit = 20): Promise<JobRunRow[]> {
    const r = await this.pool.query('select * from job_runs where job_id = $1 order by scheduled_at desc limit $2', [id, limit]);
    return r.rows.map((x) => ({
      scheduledAt: x.scheduled_at, firedAt: x.fired_at, outcome: x.outcome, ...(x.task_id ? { taskId: Number(x.task_id) } : {}),
      node: x.node ?? '', exitCode: x.exit_code ?? null, output: x.output ?? '', durationMs: Number(x.duration_ms ?? 0), finishedAt: x.finished_at ?? null,
    }));
  }

  /**
   * Claim a bash job's run scheduled at `at` (outcome 'running'); false when this run was
   * already claimed (by us or another coordinator).
   */
  async startBashRun(job: JobRow, at: Date, firedAt: Date = new Date()): Promise<boolean> {
    const r = await this.pool.query(`insert into job_runs (job_id, scheduled_at, fired_at, outcome) values ($1, $2, $3, 'running') on conflict do nothing`, [job.id, at, firedAt]);
    return (r.rowCount ?? 0) > 0;
  }

  /** The job's runs still marked running (normally none or one), oldest first. */
  async runningRuns(jobId: string): Promise<Array<{ scheduledAt: Date; firedAt: Date }>> {
    const r = await this.pool.query(`select scheduled_at, fired_at from job_runs where job_id = $1 and outcome = 'running' order by scheduled_at`, [jobId]);
    return r.rows.map((x) => ({ scheduledAt: x.scheduled_at, firedAt: x.fired_at }));
  }

  /** A bash run ended (or was found lost): its outcome, node, exit code and output. */
  async finishBashRun(jobId: string, at: Date, end: BashRunEnd, finishedAt: Date = new Date()): Promise<void> {
    await this.pool.query(
      `update job_runs set outcome = $3, node = $4, exit_code = $5, output = $6, duration_ms = $7, finished_at = $8
       where job_id = $1 and scheduled_at = $2 and outcome = 'running'`,
      [jobId, at, end.outcome.slice(0, 500), end.node, end.exitCode, end.output, Math.round(end.durationMs), finishedAt]);
  }
}
