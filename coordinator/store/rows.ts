// The store's rows as the coordinator sees them (camelCase, numbers, Dates), and the
// mapping from PostgreSQL's snake_case rows. bigint columns arrive as strings from pg and
// are turned into numbers here; ids and token counts stay far below 2^53.
import type { AttemptState, TaskStatus } from '../lifecycle.js';

export type { AttemptState, TaskStatus };

export interface ProjectRow {
  /** owner/repo */
  name: string;
  path: string;
  remote: string;
  defaultBranch: string;
  createdAt: Date;
}

export interface TaskRow {
  id: number;
  project: string;
  title: string;
  body: string;
  status: TaskStatus;
  agent: string;
  model: string;
  complexity: string;
  labels: string[];
  branch: string;
  summary: string;
  reason: string;
  /** Attempts made so far; also the number of the latest attempt. */
  attempts: number;
  /** Attempts that ran since the last retry/run: what max_attempts limits. */
  spent: number;
  /** The task branch's head as of the last accepted push ('' = none yet). */
  head: string;
  /** W3C trace context of the task's trace ({} when tracing was off at intake). */
  trace: Record<string, string>;
  filesChanged: string[];
  memory: unknown[];
  /** The task that delegated this one (null: none). */
  parentId: number | null;
  /** The GitHub issue this task mirrors (null: internal). */
  issueNumber: number | null;
  /** The pull request opened for the task's branch. */
  prNumber: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AttemptRow {
  taskId: number;
  number: number;
  /** Fencing token: a report about this attempt must carry it. */
  token: string;
  node: string;
  agent: string;
  model: string;
  state: AttemptState;
  exitCode: number | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  summary: string;
  errorClass: string;
  errorMessage: string;
  dir: string;
  worktree: string;
  session: string;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  costUsd: number;
  costSource: string;
  durationMs: number;
  result: unknown | null;
  createdAt: Date;
}

export interface TaskEventRow {
  id: number;
  taskId: number;
  at: Date;
  /** Null for the 'created' event. */
  fromStatus: TaskStatus | null;
  toStatus: TaskStatus;
  event: string;
  detail: string;
}

export interface CooldownRow {
  /** `agent` or `agent/model`. */
  scope: string;
  until: Date;
  strikes: number;
  errorClass: string;
  reason: string;
  updatedAt: Date;
}

export function cooldownRow(r: Record<string, any>): CooldownRow {
  return { scope: r.scope, until: r.until, strikes: r.strikes, errorClass: r.error_class, reason: r.reason, updatedAt: r.updated_at };
}

export interface NodeRow {
  name: string;
  info: unknown;
  lastSeen: Date;
  /** Why an operator drained it; undefined while placeable. */
  drained?: string;
}

/** The task fields a transition may change besides the status. */
export type TaskPatch = Partial<Pick<TaskRow, 'agent' | 'model' | 'complexity' | 'branch' | 'summary' | 'reason' | 'filesChanged' | 'memory' | 'labels' | 'spent' | 'head' | 'title' | 'body' | 'issueNumber' | 'prNumber'>>;

/** The attempt fields an update may change (identity and token never change). */
export type AttemptPatch = Partial<Omit<AttemptRow, 'taskId' | 'number' | 'token' | 'createdAt'>>;

/** Patch key -> column; `json` columns are sent as JSON text. */
export const TASK_COLUMNS: Record<keyof TaskPatch, { col: string; json?: true }> = {
  agent: { col: 'agent' }, model: { col: 'model' }, complexity: { col: 'complexity' }, branch: { col: 'branch' },
  summary: { col: 'summary' }, reason: { col: 'reason' }, filesChanged: { col: 'files_changed' },
  memory: { col: 'memory', json: true }, labels: { col: 'labels' }, spent: { col: 'spent' }, head: { col: 'head' },
  title: { col: 'title' }, body: { col: 'body' }, issueNumber: { col: 'issue_number' }, prNumber: { col: 'pr_number' },
};

export const ATTEMPT_COLUMNS: Record<keyof AttemptPatch, { col: string; json?: true }> = {
  node: { col: 'node' }, agent: { col: 'agent' }, model: { col: 'model' }, state: { col: 'state' },
  exitCode: { col: 'exit_code' }, startedAt: { col: 'started_at' }, finishedAt: { col: 'finished_at' },
  summary: { col: 'summary' }, errorClass: { col: 'error_class' }, errorMessage: { col: 'error_message' },
  dir: { col: 'dir' }, worktree: { col: 'worktree' }, session: { col: 'session' },
  inputTokens: { col: 'input_tokens' }, outputTokens: { col: 'output_tokens' }, costUsd: { col: 'cost_usd' },
  cacheReadTokens: { col: 'cache_read_tokens' }, cacheWriteTokens: { col: 'cache_write_tokens' }, costSource: { col: 'cost_source' },
  durationMs: { col: 'duration_ms' }, result: { col: 'result', json: true },
};

/**
 * `col = $n` assignments for the defined keys of a patch, appending the values to `params`.
 * A key outside `columns` is a programming error (e.g. a status smuggled into a patch).
 */
export function assignments<K extends string>(patch: Partial<Record<K, unknown>>, columns: Record<K, { col: string; json?: true }>, params: unknown[]): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(patch) as Array<[K, unknown]>) {
    if (value === undefined) continue;
    const c = columns[key];
    if (!c) throw new Error(`"${key}" cannot be changed through a patch`);
    params.push(c.json && value !== null ? JSON.stringify(value) : value);
    out.push(`${c.col} = $${params.length}${c.json ? '::jsonb' : ''}`);
  }
  return out;
}

/** A row as pg returns it. */
type Raw = Record<string, any>;

export function projectRow(r: Raw): ProjectRow {
  return { name: r.name, path: r.path, remote: r.remote, defaultBranch: r.default_branch, createdAt: r.created_at };
}

export function taskRow(r: Raw): TaskRow {
  return {
    id: Number(r.id), project: r.project, title: r.title, body: r.body, status: r.status,
    agent: r.agent, model: r.model, complexity: r.complexity, labels: r.labels, branch: r.branch,
    summary: r.summary, reason: r.reason, attempts: r.attempts, spent: r.spent ?? 0, head: r.head ?? '', trace: r.trace ?? {}, filesChanged: r.files_changed,
    memory: r.memory, parentId: r.parent_id == null ? null : Number(r.parent_id), issueNumber: r.issue_number ?? null, prNumber: r.pr_number ?? null,
    createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

export function attemptRow(r: Raw): AttemptRow {
  return {
    taskId: Number(r.task_id), number: r.number, token: r.token, node: r.node, agent: r.agent, model: r.model,
    state: r.state, exitCode: r.exit_code, startedAt: r.started_at, finishedAt: r.finished_at,
    summary: r.summary, errorClass: r.error_class, errorMessage: r.error_message, dir: r.dir,
    worktree: r.worktree, session: r.session, inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens), costUsd: r.cost_usd, durationMs: Number(r.duration_ms),
    cacheReadTokens: Number(r.cache_read_tokens ?? 0), cacheWriteTokens: Number(r.cache_write_tokens ?? 0), costSource: r.cost_source ?? '',
    result: r.result, createdAt: r.created_at,
  };
}

export function eventRow(r: Raw): TaskEventRow {
  return { id: Number(r.id), taskId: Number(r.task_id), at: r.at, fromStatus: r.from_status, toStatus: r.to_status, event: r.event, detail: r.detail };
}

export function nodeRow(r: Raw): NodeRow {
  return { name: r.name, info: r.info, lastSeen: r.last_seen, drained: r.drained ?? undefined };
}
