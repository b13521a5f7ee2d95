// Store rows -> the generated proto types the API speaks. Dates become RFC 3339 strings
// ('' when unset); an attempt without an exit code reports -1.
import { traceIdOf } from '../../runtime/telemetry/index.js';
import type { Attempt, Project, RoutingDecision, Task, TaskEvent } from '../../proto/gen/orch/v1/types.js';
import type { AttemptRow, ProjectRow, TaskEventRow, TaskRow } from './rows.js';
import type { RouteRow } from './routing.js';

function iso(d: Date | null | undefined): string {
  return d ? d.toISOString() : '';
}

/** A task; with its attempts, the node and worktree of the latest one are filled in too. */
export function taskToProto(t: TaskRow, attempts: AttemptRow[] = [], events: TaskEventRow[] = [], children: number[] = [], routing?: RouteRow): Task {
  const latest = attempts.reduce<AttemptRow | undefined>((a, b) => (!a || b.number > a.number ? b : a), undefined);
  return {
    id: t.id, title: t.title, body: t.body, status: t.status, agent: t.agent, model: t.model,
    complexity: t.complexity, project: t.project, branch: t.branch, attempts: t.attempts,
    labels: [...t.labels], summary: t.summary, reason: t.reason,
    node: latest?.node ?? '', worktree: latest?.worktree ?? '',
    createdAt: iso(t.createdAt), updatedAt: iso(t.updatedAt),
    attemptHistory: attempts.map(attemptToProto), events: events.map(eventToProto),
    filesChanged: [...t.filesChanged], traceId: traceIdOf(t.trace),
    parentId: t.parentId ?? 0, children,
    issueNumber: t.issueNumber ?? 0, prNumber: t.prNumber ?? 0,
    routing: routing ? routingToProto(routing) : undefined,
  };
}

export function routingToProto(r: RouteRow): RoutingDecision {
  return {
    at: iso(r.at), mode: r.mode, source: r.source, agent: r.agent, model: r.model, complexity: r.complexity, reason: r.reason,
    routerAgent: r.routerAgent, routerModel: r.routerModel, routerNode: r.routerNode, tries: r.tries, routerError: r.routerError,
    inputTokens: r.inputTokens, cacheReadTokens: r.cacheReadTokens, cacheWriteTokens: r.cacheWriteTokens, outputTokens: r.outputTokens,
    costUsd: r.costUsd, durationMs: r.durationMs,
  };
}

export function attemptToProto(a: AttemptRow): Attempt {
  return {
    number: a.number, node: a.node, agent: a.agent, model: a.model, state: a.state,
    exitCode: a.exitCode ?? -1, startedAt: iso(a.startedAt), finishedAt: iso(a.finishedAt),
    summary: a.summary, errorClass: a.errorClass, errorMessage: a.errorMessage, dir: a.dir,
    inputTokens: a.inputTokens, outputTokens: a.outputTokens, costUsd: a.costUsd, durationMs: a.durationMs,
    cacheReadTokens: a.cacheReadTokens, cacheWriteTokens: a.cacheWriteTokens, costSource: a.costSource,
  };
}

export function eventToProto(e: TaskEventRow): TaskEvent {
  return { at: iso(e.at), fromStatus: e.fromStatus ?? '', toStatus: e.toStatus, event: e.event, detail: e.detail };
}

export function projectToProto(p: ProjectRow): Project {
  return { name: p.name, path: p.path, remote: p.remote, defaultBranch: p.defaultBranch, createdAt: iso(p.createdAt) };
}
