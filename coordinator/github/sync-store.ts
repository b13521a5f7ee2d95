// What orch last told GitHub about each task (github_task_sync) and the poll cursors
// (github_cursors): GitHub bookkeeping beside the task store, never task state.
import type pg from 'pg';
import { taskRow, type TaskRow } from '../store/rows.js';

export interface TaskSync {
  taskId: number;
  issueNodeId: string;
  statusLabel: string;
  /** The task_events row whose status the label shows (0: none, or synced before orch kept it). */
  labelEvent: number;
  commentedAttempt: number;
  delegatedAttempt: number;
  boardItem: string;
  boardColumn: string;
  issueClosed: boolean;
  prJudgedHead: string;
  ciFixes: number;
  reviewSeen: number;
  /** The PR head the review agent last reviewed, and its decision (approve, request_changes, error). */
  reviewAgentHead: string;
  reviewAgentVerdict: string;
}

export interface Cursor { since: string; etag: string }

const COLUMNS: Record<Exclude<keyof TaskSync, 'taskId'>, string> = {
  issueNodeId: 'issue_node_id', statusLabel: 'status_label', labelEvent: 'label_event', commentedAttempt: 'commented_attempt', delegatedAttempt: 'delegated_attempt', boardItem: 'board_item',
  boardColumn: 'board_column', issueClosed: 'issue_closed', prJudgedHead: 'pr_judged_head', ciFixes: 'ci_fixes', reviewSeen: 'review_seen',
  reviewAgentHead: 'review_agent_head', reviewAgentVerdict: 'review_agent_verdict',
};

export class SyncStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(taskId: number): Promise<TaskSync> {
    const r = await this.pool.query('select * from github_task_sync where task_id = $1', [taskId]);
    const x = r.rows[0];
    return {
      taskId, issueNodeId: x?.issue_node_id ?? '', statusLabel: x?.status_label ?? '', labelEvent: Number(x?.label_event ?? 0), commentedAttempt: x?.commented_attempt ?? 0, delegatedAttempt: x?.delegated_attempt ?? 0,
      boardItem: x?.board_item ?? '', boardColumn: x?.board_column ?? '', issueClosed: x?.issue_closed ?? false,
      prJudgedHead: x?.pr_judged_head ?? '', ciFixes: x?.ci_fixes ?? 0, reviewSeen: Number(x?.review_seen ?? 0),
      reviewAgentHead: x?.review_agent_head ?? '', reviewAgentVerdict: x?.review_agent_verdict ?? '',
    };
  }

  async set(taskId: number, patch: Partial<Omit<TaskSync, 'taskId'>>): Promise<void> {
    const keys = Object.keys(patch) as Array<keyof typeof COLUMNS>;
    if (!keys.length) return;
    const cols = keys.map((k) => COLUMNS[k]);
    const vals = keys.map((k) => patch[k]);
    await this.pool.query(
      `insert into github_task_sync (task_id, ${cols.join(', ')}) values ($1, ${cols.map((_, i) => `$${i + 2}`).join(', ')})
       on conflict (task_id) do update set ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}`, [taskId, ...vals]);
  }

  async cursor(project: string, name: string): Promise<Cursor> {
    const r = await this.pool.query('select since, etag from github_cursors where project = $1 and name = $2', [project, name]);
    return r.rows[0] ?? { since: '', etag: '' };
  }

  async setCursor(project: string, name: string, c: Cursor): Promise<void> {
    await this.pool.query(`insert into github_cursors (project, name, since, etag) values ($1, $2, $3, $4)
      on conflict (project, name) do update set since = excluded.since, etag = excluded.etag`, [project, name, c.since, c.etag]);
  }

  async taskByPr(project: string, pr: number): Promise<TaskRow | undefined> {
    const r = await this.pool.query('select * from tasks where project = $1 and pr_number = $2 order by id desc limit 1', [project, pr]);
    return r.rows[0] ? taskRow(r.rows[0]) : undefined;
  }

  async taskByBranch(project: string, branch: string): Promise<TaskRow | undefined> {
    const r = await this.pool.query('select * from tasks where project = $1 and branch = $2 order by id desc limit 1', [project, branch]);
    return r.rows[0] ? taskRow(r.rows[0]) : undefined;
  }

  async tasksInReview(project: string): Promise<TaskRow[]> {
    const r = await this.pool.query(`select * from tasks where project = $1 and status = 'in_review' and pr_number is not null order by id`, [project]);
    return r.rows.map(taskRow);
  }

  /** Tasks whose GitHub side may lag their state (after a restart, everything not yet acknowledged). */
  async tasksToReconcile(project: string, autoClose: boolean): Promise<number[]> {
    const r = await this.pool.query(
      `select t.id from tasks t left join github_task_sync s on s.task_id = t.id
       where t.project = $1 and (
         (t.issue_number is not null and (s.task_id is null or s.status_label <> 'status:' || t.status
           or s.commented_attempt < t.attempts or ($2 and t.status = 'done' and not s.issue_closed)))
         or (t.status = 'in_review' and t.pr_number is null))
       order by t.id`, [project, autoClose]);
    return r.rows.map((x) => Number(x.id));
  }
}
