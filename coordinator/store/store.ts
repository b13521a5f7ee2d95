// The task store over PostgreSQL. A task's status changes only through transition(): one
// transaction that compares-and-sets the status, appends a task_events row and creates or
// updates the attempt it concerns, so history and state can never disagree.
import type pg from 'pg';
import { FencedError, NotFoundError, NotLeaderError, ProjectInUseError, StaleTransitionError } from './errors.js';
import {
  ATTEMPT_COLUMNS, TASK_COLUMNS, assignments, attemptRow, cooldownRow, eventRow, nodeRow, projectRow, taskRow,
  type CooldownRow,
  type AttemptPatch, type AttemptRow, type AttemptState, type NodeRow, type ProjectRow, type TaskEventRow,
  type TaskPatch, type TaskRow, type TaskStatus,
} from './rows.js';

export { FencedError, NotFoundError, NotLeaderError, ProjectInUseError, StaleTransitionError } from './errors.js';
export type { AttemptPatch, AttemptRow, AttemptState, CooldownRow, NodeRow, ProjectRow, TaskEventRow, TaskPatch, TaskRow, TaskStatus } from './rows.js';

export interface NewProject { name: string; path: string; remote: string; defaultBranch: string }

export interface NewTask { project: string; title: string; body: string; labels: string[]; agent?: string; complexity?: string; parentId?: number; issueNumber?: number; trace?: Record<string, string> }

export interface TransitionChange {
  patch?: TaskPatch;
  /** Name recorded in task_events. */
  event: string;
  detail?: string;
  /** Start attempt number attempts+1 (state 'assigned'). */
  newAttempt?: { token: string; node: string; agent: string; model: string };
  /** Change an existing attempt; refused with FencedError unless `token` is the attempt's. */
  attemptUpdate?: { number: number; token: string; patch: AttemptPatch };
  /** This attempt ran: it counts against max_attempts (tasks.spent + 1). */
  countAttempt?: boolean;
  /** More writes that belong to this transition (e.g. the routing decision), in its transaction. */
  also?: (c: pg.ClientBase, task: TaskRow) => Promise<void>;
}

const PG_FOREIGN_KEY_VIOLATION = '23503';

export class Store {
  /** The leadership epoch every transition is fenced by (unset: no fencing, e.g. tests of the store alone). */
  private epoch: number | undefined;

  constructor(private readonly pool: pg.Pool) {}

  /** From now on a transition commits only while `epoch` is the current leadership epoch. */
  fence(epoch: number | undefined): void {
    this.epoch = epoch;
  }

  // ---- projects

  /** Register a project, or update its path/remote/branch if the name is known. */
  async addProject(p: NewProject): Promise<ProjectRow> {
    const r = await this.pool.query(
      `insert into projects (name, path, remote, default_branch) values ($1, $2, $3, $4)
       on conflict (name) do update set path = excluded.path, remote = excluded.remote, default_branch = excluded.default_branch
       returning *`,
      [p.name, p.path, p.remote, p.defaultBranch || 'main']);
    return projectRow(r.rows[0]);
  }

  async listProjects(): Promise<ProjectRow[]> {
    return (await this.pool.query('select * from projects order by name')).rows.map(projectRow);
  }

  async getProject(name: string): Promise<ProjectRow | undefined> {
    const r = await this.pool.query('select * from projects where name = $1', [name]);
    return r.rows[0] ? projectRow(r.rows[0]) : undefined;
  }

  /**
   * Unregister a project. Refused (ProjectInUseError) while any of its tasks is not done;
   * its done tasks, with their attempts and history, are deleted with it.
   */
  async removeProject(name: string): Promise<ProjectRow> {
    return this.tx(async (c) => {
      // The row lock also holds off createTask for this project until we commit.
      const p = await c.query('select * from projects where name = $1 for update', [name]);
      if (!p.rows[0]) throw new NotFoundError(`project ${name} is not registered`);
      const open = await c.query<{ id: string; status: TaskStatus }>(
        `select id, status from tasks where project = $1 and status <> 'done' order by id`, [name]);
      if (open.rows.length) throw new ProjectInUseError(name, open.rows.map((t) => ({ id: Number(t.id), status: t.status })));
      await c.query('delete from tasks where project = $1', [name]);
      await c.query('delete from projects where name = $1', [name]);
      return projectRow(p.rows[0]);
    });
  }

  // ---- tasks

  /** A new task (status new) and its 'created' event. */
  async createTask(input: NewTask): Promise<TaskRow> {
    return this.tx((c) => insertTask(c, input));
  }

  /** Run `fn` in one transaction (for stores of other tables that create tasks, e.g. jobs). */
  transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.tx(fn);
  }

  async getTask(id: number): Promise<TaskRow | undefined> {
    const r = await this.pool.query('select * from tasks where id = $1', [id]);
    return r.rows[0] ? taskRow(r.rows[0]) : undefined;
  }

  async listTasks(f: { status?: TaskStatus; project?: string } = {}): Promise<TaskRow[]> {
    const r = await this.pool.query(
      `select * from tasks where ($1::text is null or status = $1) and ($2::text is null or project = $2) order by id`,
      [f.status ?? null, f.project ?? null]);
    return r.rows.map(taskRow);
  }

  async taskByIssue(project: string, issueNumber: number): Promise<TaskRow | undefined> {
    const r = await this.pool.query('select * from tasks where project = $1 and issue_number = $2', [project, issueNumber]);
    return r.rows[0] ? taskRow(r.rows[0]) : undefined;
  }

  async tasksInStatus(statuses: TaskStatus[]): Promise<TaskRow[]> {
    return (await this.pool.query('select * from tasks where status = any($1) order by id', [statuses])).rows.map(taskRow);
  }

  /**
   * The one way a task changes. In one transaction: set the status (and patch) only if the
   * task is still in `expected` — else StaleTransitionError with the actual status, or
   * NotFoundError — append a task_events row, and create and/or update an attempt.
   * Returns the new task row and the attempt touched (the new one when both happen).
   */
  async transition(id: number, expected: TaskStatus, to: TaskStatus, change: TransitionChange): Promise<{ task: TaskRow; attempt?: AttemptRow }> {
    return this.tx(async (c) => {
      const params: unknown[] = [id, expected, to];
      const sets = [...assignments(change.patch ?? {}, TASK_COLUMNS, params), 'status = $3', 'updated_at = now()'];
      if (change.newAttempt) sets.push('attempts = attempts + 1');
      if (change.countAttempt) sets.push('spent = spent + 1');
      let fenced = '';
      if (this.epoch !== undefined) {
        params.push(this.epoch);
        fenced = ` and (select epoch from leadership where id = 1) = $${params.length}`;
      }
      const r = await c.query(`update tasks set ${sets.join(', ')} where id = $1 and status = $2${fenced} returning *`, params);
      if (!r.rows[0]) {
        if (this.epoch !== undefined) {
          const l = await c.query<{ epoch: string }>('select epoch from leadership where id = 1');
          const current = l.rows[0] ? Number(l.rows[0].epoch) : undefined;
          if (current !== this.epoch) throw new NotLeaderError(this.epoch, current);
        }
        const now = await c.query<{ status: TaskStatus }>('select status from tasks where id = $1', [id]);
        if (!now.rows[0]) throw new NotFoundError(`task ${id} not found`);
        throw new StaleTransitionError(id, expected, now.rows[0].status);
      }
      const task = taskRow(r.rows[0]);
      await c.query('insert into task_events (task_id, from_status, to_status, event, detail) values ($1, $2, $3, $4, $5)',
        [id, expected, to, change.event, change.detail ?? '']);
      let attempt: AttemptRow | undefined;
      if (change.attemptUpdate) {
        const u = change.attemptUpdate;
        attempt = await patchAttempt(c, id, u.number, u.token, u.patch);
      }
      if (change.newAttempt) {
        const a = change.newAttempt;
        const ins = await c.query(
          `insert into attempts (task_id, number, token, node, agent, model, state) values ($1, $2, $3, $4, $5, $6, 'assigned') returning *`,
          [id, task.attempts, a.token, a.node, a.agent, a.model]);
        attempt = attemptRow(ins.rows[0]);
      }
      if (change.also) await change.also(c, task);
      return attempt ? { task, attempt } : { task };
    });
  }

  // ---- attempts

  /** Change an attempt outside a transition (progress, token counts); FencedError on a wrong token. */
  async updateAttempt(taskId: number, number: number, token: string, patch: AttemptPatch): Promise<AttemptRow> {
    const c = await this.pool.connect();
    const lost = () => undefined; // see tx(): the failed query reports it
    c.on('error', lost);
    try {
      return await patchAttempt(c, taskId, number, token, patch);
    } finally {
      c.off('error', lost);
      c.release();
    }
  }

  async getAttempt(taskId: number, number: number): Promise<AttemptRow | undefined> {
    const r = await this.pool.query('select * from attempts where task_id = $1 and number = $2', [taskId, number]);
    return r.rows[0] ? attemptRow(r.rows[0]) : undefined;
  }

  async listAttempts(taskId: number): Promise<AttemptRow[]> {
    return (await this.pool.query('select * from attempts where task_id = $1 order by number', [taskId])).rows.map(attemptRow);
  }

  async attemptsInState(states: AttemptState[]): Promise<AttemptRow[]> {
    return (await this.pool.query('select * from attempts where state = any($1) order by task_id, number', [states])).rows.map(attemptRow);
  }

  /** Tasks a task delegated, oldest first. */
  async childrenOf(parentId: number): Promise<TaskRow[]> {
    return (await this.pool.query('select * from tasks where parent_id = $1 order by id', [parentId])).rows.map(taskRow);
  }

  /** Attempts created since a moment (all when undefined), oldest first. */
  async attemptsSince(since?: Date): Promise<AttemptRow[]> {
    const r = since
      ? await this.pool.query('select * from attempts where created_at >= $1 order by created_at', [since])
      : await this.pool.query('select * from attempts order by created_at');
    return r.rows.map(attemptRow);
  }

  /** Tasks created since a moment (all when undefined), counted by current status. */
  async taskStatusCounts(since?: Date): Promise<Record<string, number>> {
    const r = await this.pool.query(
      `select status, count(*)::int as n from tasks ${since ? 'where created_at >= $1' : ''} group by status`, since ? [since] : []);
    return Object.fromEntries(r.rows.map((x) => [x.status, x.n]));
  }

  // ---- cooldowns (agent or agent/model scopes)

  async listCooldowns(): Promise<CooldownRow[]> {
    return (await this.pool.query('select * from cooldowns order by scope')).rows.map(cooldownRow);
  }

  /** Start or extend a cooldown; `strikes` counts cooldowns in a row (reset once one has expired long enough). */
  async putCooldown(c: Omit<CooldownRow, 'updatedAt'>): Promise<CooldownRow> {
    const r = await this.pool.query(
      `insert into cooldowns (scope, until, strikes, error_class, reason) values ($1, $2, $3, $4, $5)
       on conflict (scope) do update set until = excluded.until, strikes = excluded.strikes,
         error_class = excluded.error_class, reason = excluded.reason, updated_at = now()
       returning *`, [c.scope, c.until, c.strikes, c.errorClass, c.reason]);
    return cooldownRow(r.rows[0]);
  }

  // ---- history and nodes

  /** A task_events row that is no status change (e.g. a review agent's verdict); the status stays. */
  async note(taskId: number, event: string, detail: string): Promise<void> {
    await this.pool.query(`insert into task_events (task_id, from_status, to_status, event, detail)
      select id, status, status, $2, $3 from tasks where id = $1`, [taskId, event, detail]);
  }

  async events(taskId: number): Promise<TaskEventRow[]> {
    return (await this.pool.query('select * from task_events where task_id = $1 order by id', [taskId])).rows.map(eventRow);
  }

  /** Drain a node (reason) or make it placeable again (null); false when the node was never seen. */
  async setNodeDrained(name: string, reason: string | null): Promise<boolean> {
    const r = await this.pool.query('update nodes set drained = $2 where name = $1', [name, reason]);
    return (r.rowCount ?? 0) > 0;
  }

  /** Delete a node's row; false when there was none. */
  async forgetNode(name: string): Promise<boolean> {
    return ((await this.pool.query('delete from nodes where name = $1', [name])).rowCount ?? 0) > 0;
  }

  async getNode(name: string): Promise<NodeRow | undefined> {
    const r = await this.pool.query('select * from nodes where name = $1', [name]);
    return r.rows[0] ? nodeRow(r.rows[0]) : undefined;
  }

  async upsertNode(name: string, info: unknown): Promise<void> {
    await this.pool.query(
      `insert into nodes (name, info, last_seen) values ($1, $2::jsonb, now())
       on conflict (name) do update set info = excluded.info, last_seen = excluded.last_seen`,
      [name, JSON.stringify(info)]);
  }

  async listNodes(): Promise<NodeRow[]> {
    return (await this.pool.query('select * from nodes order by name')).rows.map(nodeRow);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken = false;
    // A connection lost mid-transaction (server restart) fails the query; pg also emits it
    // as an 'error' event, which must not go unheard (it would end the process).
    const lost = () => { broken = true; };
    c.on('error', lost);
    try {
      await c.query('begin');
      const result = await fn(c);
      await c.query('commit');
      return result;
    } catch (err) {
      await c.query('rollback').catch(() => { broken = true; });
      throw err;
    } finally {
      c.off('error', lost);
      c.release(broken);
    }
  }
}

/** Update an attempt if `token` is its fencing token. */
async function patchAttempt(c: pg.ClientBase, taskId: number, number: number, token: string, patch: AttemptPatch): Promise<AttemptRow> {
  const params: unknown[] = [taskId, number, token];
  const sets = assignments(patch, ATTEMPT_COLUMNS, params);
  const r = sets.length
    ? await c.query(`update attempts set ${sets.join(', ')} where task_id = $1 and number = $2 and token = $3 returning *`, params)
    : await c.query('select * from attempts where task_id = $1 and number = $2 and token = $3', params);
  if (r.rows[0]) return attemptRow(r.rows[0]);
  const exists = await c.query('select 1 from attempts where task_id = $1 and number = $2', [taskId, number]);
  if (!exists.rowCount) throw new NotFoundError(`attempt ${number} of task ${taskId} does not exist`);
  throw new FencedError(taskId, number);
}

/** A new task (status new) and its 'created' event, inside a transaction. */
export async function insertTask(c: pg.ClientBase, input: NewTask): Promise<TaskRow> {
  let r: pg.QueryResult;
  try {
    r = await c.query(
      `insert into tasks (project, title, body, labels, agent, complexity, parent_id, issue_number, status, trace)
       values ($1, $2, $3, $4, $5, $6, $7, $8, 'new', $9::jsonb) returning *`,
      [input.project, input.title, input.body, input.labels, input.agent ?? '', input.complexity ?? '', input.parentId ?? null, input.issueNumber ?? null, JSON.stringify(input.trace ?? {})]);
  } catch (err) {
    if ((err as { code?: string }).code === PG_FOREIGN_KEY_VIOLATION) {
      throw new NotFoundError(`project ${input.project} is not registered: add it with orch project add`);
    }
    throw err;
  }
  const task = taskRow(r.rows[0]);
  await c.query(`insert into task_events (task_id, from_status, to_status, event) values ($1, null, 'new', 'created')`, [task.id]);
  return task;
}
