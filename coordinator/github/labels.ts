// Sync out of status, as a pure plan: exactly one status:<status> label on the issue.
import type { TaskStatus } from '../lifecycle.js';
import type { TaskEventRow } from '../store/rows.js';

export function statusLabel(status: TaskStatus): string { return `status:${status}`; }

/** Labels to add and remove so that `current` carries only the label of `status`. */
export function labelPlan(current: string[], status: TaskStatus): { add: string[]; remove: string[] } {
  const want = statusLabel(status);
  const remove = current.filter((l) => /^status:/i.test(l) && l !== want);
  return { add: current.includes(want) ? [] : [want], remove };
}

/** A longer backlog than this (sync was away a while) shows only where the task is now. */
export const MAX_LABEL_REPLAY = 6;

/**
 * The status labels to show, in order, for the task's status changes after event `since`
 * (each with the event it stands for): one per transition, so the timeline follows
 * the task; consecutive repeats collapse; after a long backlog, or for a task synced before
 * orch kept `since` (since 0 with a label already on), only the latest. Pure.
 */
export function labelSteps(events: Pick<TaskEventRow, 'id' | 'fromStatus' | 'toStatus'>[], since: number, shown: string): Array<{ event: number; label: string }> {
  const changes = events.filter((e) => e.id > since && e.fromStatus !== e.toStatus);
  if (!changes.length) return [];
  const latest = changes[changes.length - 1];
  if (changes.length > MAX_LABEL_REPLAY || (since === 0 && shown !== '')) return [{ event: latest.id, label: statusLabel(latest.toStatus) }];
  const steps: Array<{ event: number; label: string }> = [];
  for (const e of changes) {
    const label = statusLabel(e.toStatus);
    if (steps.length && steps[steps.length - 1].label === label) steps[steps.length - 1].event = e.id;
    else steps.push({ event: e.id, label });
  }
  return steps;
}
