// Projects V2 columns, as pure mapping: a task status -> a board column -> the Status
// field option (found by name, or named/overridden in gh.project_status_map).
import type { TaskStatus } from '../lifecycle.js';

export type Column = 'backlog' | 'in_progress' | 'review' | 'done';

export function columnFor(status: TaskStatus): Column {
  switch (status) {
    case 'new': case 'routed': return 'backlog';
    case 'in_progress': case 'blocked': return 'in_progress';
    case 'in_review': case 'needs_review': return 'review';
    case 'done': return 'done';
  }
}

const ALIASES: Record<Column, string[]> = {
  backlog: ['backlog', 'todo', 'to do', 'new'],
  in_progress: ['in progress', 'in_progress', 'doing', 'wip'],
  review: ['review', 'in review', 'in_review', 'needs review'],
  done: ['done', 'complete', 'completed', 'closed'],
};

function norm(s: string): string { return s.toLowerCase().replace(/[_-]+/g, ' ').replace(/\s+/g, ' ').trim(); }

/** The option id for a column, or undefined when the field has none that fits. */
export function optionFor(column: Column, options: Array<{ id: string; name: string }>, map: Record<string, string> = {}): string | undefined {
  const wanted = map[column];
  if (wanted) return options.find((o) => o.id === wanted || norm(o.name) === norm(wanted))?.id;
  const names = ALIASES[column].map(norm);
  return options.find((o) => names.includes(norm(o.name)))?.id;
}
