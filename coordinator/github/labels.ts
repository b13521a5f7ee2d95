// Sync out of status, as a pure plan: exactly one status:<status> label on the issue.
import type { TaskStatus } from '../lifecycle.js';

export function statusLabel(status: TaskStatus): string { return `status:${status}`; }

/** Labels to add and remove so that `current` carries only the label of `status`. */
export function labelPlan(current: string[], status: TaskStatus): { add: string[]; remove: string[] } {
  const want = statusLabel(status);
  const remove = current.filter((l) => /^status:/i.test(l) && l !== want);
  return { add: current.includes(want) ? [] : [want], remove };
}
