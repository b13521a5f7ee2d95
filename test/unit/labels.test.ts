// status:* labels follow each transition (coordinator/github/labels.ts labelSteps): which
// labels the sync out shows, in order, for the status changes it has not shown yet.
import { describe, expect, it } from 'vitest';
import { labelSteps, MAX_LABEL_REPLAY } from '../../coordinator/github/labels.js';
import type { TaskStatus } from '../../coordinator/lifecycle.js';

type Ev = { id: number; fromStatus: TaskStatus | null; toStatus: TaskStatus };
const chain = (...s: TaskStatus[]): Ev[] => s.map((to, i) => ({ id: i + 1, fromStatus: i ? s[i - 1] : null, toStatus: to }));

describe('labelSteps', () => {
  it('one label per transition not shown yet, in order, each with its event', () => {
    expect(labelSteps(chain('new', 'routed', 'in_progress', 'in_review'), 0, '')).toEqual([
      { event: 1, label: 'status:new' }, { event: 2, label: 'status:routed' }, { event: 3, label: 'status:in_progress' }, { event: 4, label: 'status:in_review' },
    ]);
    expect(labelSteps(chain('new', 'routed', 'in_progress', 'in_review'), 2, 'status:routed')).toEqual([
      { event: 3, label: 'status:in_progress' }, { event: 4, label: 'status:in_review' },
    ]);
    expect(labelSteps(chain('new', 'routed'), 2, 'status:routed')).toEqual([]);
  });

  it('notes (no status change) add nothing; a status reached twice in a row shows once, at its last event', () => {
    const ev: Ev[] = [...chain('new', 'routed'), { id: 3, fromStatus: 'routed', toStatus: 'routed' }, { id: 4, fromStatus: 'routed', toStatus: 'in_progress' }];
    expect(labelSteps(ev, 1, 'status:new')).toEqual([{ event: 2, label: 'status:routed' }, { event: 4, label: 'status:in_progress' }]);
    // A retry: in_progress -> routed -> in_progress shows all three.
    const retry = chain('new', 'routed', 'in_progress', 'routed', 'in_progress');
    expect(labelSteps(retry, 3, 'status:in_progress').map((s) => s.label)).toEqual(['status:routed', 'status:in_progress']);
  });

  it('a backlog longer than the replay limit, or a task labelled before orch kept the event, shows only the latest', () => {
    const long = chain(...(Array.from({ length: MAX_LABEL_REPLAY + 1 }, (_, i) => (i % 2 ? 'routed' : 'in_progress')) as TaskStatus[]));
    expect(labelSteps(long, 0, '')).toEqual([{ event: long.length, label: `status:${long.at(-1)!.toStatus}` }]);
    expect(labelSteps(chain('new', 'routed', 'in_progress'), 0, 'status:new')).toEqual([{ event: 3, label: 'status:in_progress' }]);
  });
});
