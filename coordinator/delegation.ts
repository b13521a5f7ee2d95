// Delegations: an answer's `delegations` become child tasks of the same project, and the
// parent waits `blocked` until every child is done, then resumes on its own branch.
import type { Delegation } from '../proto/gen/orch/v1/types.js';
import type { NewTask, TaskRow } from './store/store.js';

/** At most this many children per answer (an agent looping on delegations must not flood the store). */
export const MAX_DELEGATIONS = 10;

export function childTasks(parent: TaskRow, delegations: Delegation[]): NewTask[] {
  return delegations.slice(0, MAX_DELEGATIONS).filter((d) => d.title.trim()).map((d) => ({
    project: parent.project, title: d.title.trim().slice(0, 200), body: d.body, labels: d.labels, parentId: parent.id,
  }));
}

export function waitingReason(children: number[]): string {
  return `waiting for delegated task${children.length > 1 ? 's' : ''} ${children.map((c) => `#${c}`).join(', ')}`;
}

/** True when the parent should resume: it waits (blocked) and every child is done. */
export function childrenDone(parent: TaskRow, children: TaskRow[]): boolean {
  return parent.status === 'blocked' && children.length > 0 && children.every((c) => c.status === 'done');
}
