// The task state machine, as a pure function: (task, event) -> transition or refusal.
// TaskActor applies the transition in one transaction; nothing else changes a status.
//
//   new -> routed -> in_progress -> done            (in_review once PRs exist)
//                         |-> routed               (retryable failure, lost node, agent said in_progress)
//                         |-> blocked / needs_review
//   any -> done (close); blocked/needs_review/done -> new (retry)
//   with a PR (GitHub projects): in_progress -> in_review -> done (merged)
//                                in_review -> routed (CI failed, changes requested; capped CI fixes -> needs_review)
//   any but done -> blocked (block) -> new (unblock); any but done -> new (reroute)

export type TaskStatus = 'new' | 'routed' | 'in_progress' | 'in_review' | 'needs_review' | 'blocked' | 'done';
export const TASK_STATUSES: readonly TaskStatus[] = ['new', 'routed', 'in_progress', 'in_review', 'needs_review', 'blocked', 'done'];
export type AttemptState = 'assigned' | 'running' | 'succeeded' | 'failed' | 'lost' | 'killed';

export interface TaskFacts {
  status: TaskStatus;
  /** Attempts started so far, including the one that just ended. */
  attempts: number;
  maxAttempts: number;
}

export type LifecycleEvent =
  | { type: 'route'; agent: string; model: string; complexity: string; reason: string }
  | { type: 'dispatch'; node: string }
  | { type: 'started'; node: string }
  | { type: 'answered'; status: 'done' | 'in_progress' | 'blocked' | 'needs_review'; summary: string; reason: string; review?: boolean }
  | { type: 'failed'; errorClass: string; message: string; retryable: boolean }
  | { type: 'lost'; node: string; why: string }
  | { type: 'killed'; by: string }
  | { type: 'close'; note: string }
  | { type: 'retry' }
  | { type: 'run' }
  | { type: 'children_done'; children: number[] }
  | { type: 'edited'; what: string }
  | { type: 'pr_opened'; number: number }
  | { type: 'ci_failed'; check: string; fixes: number; maxFixes: number }
  | { type: 'changes_requested'; by: string }
  | { type: 'merged'; number: number }
  | { type: 'block'; reason: string; by: string }
  | { type: 'unblock'; by: string }
  | { type: 'reroute'; agent: string; by: string };

export interface Transition {
  to: TaskStatus;
  /** Name recorded in task_events. */
  event: string;
  detail: string;
  /** The state the current attempt ends in, when the event ends one. */
  attemptEnds?: AttemptState;
  /** Text for tasks.reason ('' clears it). */
  reason?: string;
}

export interface Refusal {
  refused: string;
}

export function isRefusal(x: Transition | Refusal): x is Refusal {
  return (x as Refusal).refused !== undefined;
}

const TERMINAL_FOR_RETRY: TaskStatus[] = ['blocked', 'needs_review', 'done', 'in_review'];

export function decide(task: TaskFacts, ev: LifecycleEvent): Transition | Refusal {
  const s = task.status;
  const outOfAttempts = task.attempts >= task.maxAttempts;
  switch (ev.type) {
    case 'route':
      if (s !== 'new') return { refused: `task is ${s}; only new tasks are routed` };
      return { to: 'routed', event: 'routed', detail: `${ev.agent}/${ev.model || 'default'} (${ev.complexity}): ${ev.reason}`, reason: '' };
    case 'dispatch':
      if (s !== 'routed') return { refused: `task is ${s}; only routed tasks are dispatched` };
      if (outOfAttempts) return { to: 'needs_review', event: 'attempts_exhausted', detail: `${task.attempts} of ${task.maxAttempts} attempts used`, reason: `gave up after ${task.attempts} attempts` };
      return { to: 'in_progress', event: 'dispatched', detail: `to node ${ev.node}` };
    case 'started':
      if (s !== 'in_progress') return { refused: `task is ${s}; a start report only counts while in_progress` };
      return { to: 'in_progress', event: 'started', detail: `session started on ${ev.node}` };
    case 'answered': {
      if (s !== 'in_progress') return { refused: `task is ${s}; results only count while in_progress` };
      const detail = ev.summary.slice(0, 500);
      switch (ev.status) {
        case 'done':
          if (ev.review) return { to: 'in_review', event: 'ready_for_review', detail, attemptEnds: 'succeeded', reason: '' };
          return { to: 'done', event: 'completed', detail, attemptEnds: 'succeeded', reason: '' };
        case 'blocked':
          return { to: 'blocked', event: 'agent_blocked', detail, attemptEnds: 'succeeded', reason: ev.reason || 'the agent reported it is blocked' };
        case 'needs_review':
          return { to: 'needs_review', event: 'agent_needs_review', detail, attemptEnds: 'succeeded', reason: ev.reason || 'the agent asked for review' };
        case 'in_progress':
          if (outOfAttempts) return { to: 'needs_review', event: 'attempts_exhausted', detail, attemptEnds: 'succeeded', reason: `still unfinished after ${task.attempts} attempts` };
          return { to: 'routed', event: 'continue', detail, attemptEnds: 'succeeded', reason: '' };
      }
      return { refused: `unknown answer status` };
    }
    case 'failed':
      if (s !== 'in_progress') return { refused: `task is ${s}; results only count while in_progress` };
      if (!ev.retryable) return { to: 'needs_review', event: 'failed', detail: `${ev.errorClass}: ${ev.message}`, attemptEnds: 'failed', reason: `${ev.errorClass}: ${ev.message}` };
      if (outOfAttempts) return { to: 'needs_review', event: 'attempts_exhausted', detail: `${ev.errorClass}: ${ev.message}`, attemptEnds: 'failed', reason: `${ev.errorClass} after ${task.attempts} attempts: ${ev.message}` };
      return { to: 'routed', event: 'retry_scheduled', detail: `${ev.errorClass}: ${ev.message}`, attemptEnds: 'failed' };
    case 'lost':
      if (s !== 'in_progress') return { refused: `task is ${s}; nothing to lose` };
      // A lost node is not the task's fault, but a task that kills every node must still stop.
      if (outOfAttempts) return { to: 'needs_review', event: 'attempts_exhausted', detail: `node ${ev.node} lost: ${ev.why}`, attemptEnds: 'lost', reason: `attempt lost on ${ev.node} and no attempts left` };
      return { to: 'routed', event: 'requeued', detail: `node ${ev.node} lost: ${ev.why}`, attemptEnds: 'lost' };
    case 'killed':
      if (s !== 'in_progress') return { refused: `task is ${s}; nothing is running` };
      return { to: 'needs_review', event: 'killed', detail: `killed by ${ev.by}`, attemptEnds: 'killed', reason: `killed by ${ev.by}` };
    case 'close':
      if (s === 'done') return { refused: 'task is already done' };
      return { to: 'done', event: 'closed', detail: ev.note || 'closed by user', attemptEnds: s === 'in_progress' ? 'killed' : undefined, reason: '' };
    case 'retry':
      if (!TERMINAL_FOR_RETRY.includes(s)) return { refused: `task is ${s}; retry applies to blocked, needs_review, in_review or done tasks` };
      return { to: 'new', event: 'retried', detail: 'reset for re-routing', reason: '' };
    case 'children_done':
      if (s !== 'blocked') return { refused: `task is ${s}; only a blocked parent resumes when its children are done` };
      return { to: 'routed', event: 'children_done', detail: `delegated tasks done: ${ev.children.map((c) => `#${c}`).join(', ')}`, reason: '' };
    case 'run':
      if (s === 'routed') return { to: 'routed', event: 'run_requested', detail: 'dispatch now' };
      if (s === 'new') return { to: 'new', event: 'run_requested', detail: 'route and dispatch now' };
      if (s === 'blocked' || s === 'needs_review') return { to: 'routed', event: 'run_requested', detail: 'resumed by user', reason: '' };
      return { refused: `task is ${s}; run applies to new, routed, blocked or needs_review tasks` };
    case 'edited':
      return { to: s, event: 'edited', detail: ev.what };
    case 'pr_opened':
      if (s !== 'in_review') return { refused: `task is ${s}; a PR is recorded only in review` };
      return { to: 'in_review', event: 'pr_opened', detail: `#${ev.number}` };
    case 'ci_failed':
      if (s !== 'in_review') return { refused: `task is ${s}; CI only sends back tasks in review` };
      if (ev.fixes >= ev.maxFixes) return { to: 'needs_review', event: 'ci_fixes_exhausted', detail: ev.check, reason: `check ${ev.check} still fails after ${ev.fixes} fixes` };
      return { to: 'routed', event: 'ci_failed', detail: `${ev.check} (fix ${ev.fixes + 1} of ${ev.maxFixes})`, reason: '' };
    case 'changes_requested':
      if (s !== 'in_review') return { refused: `task is ${s}; reviews only send back tasks in review` };
      return { to: 'routed', event: 'changes_requested', detail: `by ${ev.by}`, reason: '' };
    case 'merged':
      if (s !== 'in_review' && s !== 'needs_review') return { refused: `task is ${s}; only a task in review is merged` };
      return { to: 'done', event: 'merged', detail: `PR #${ev.number}`, reason: '' };
    case 'block':
      if (s === 'done' || s === 'blocked') return { refused: `task is ${s}; nothing to block` };
      return { to: 'blocked', event: 'blocked', detail: `by ${ev.by}`, attemptEnds: s === 'in_progress' ? 'killed' : undefined, reason: ev.reason || `blocked by ${ev.by}` };
    case 'unblock':
      if (s !== 'blocked') return { refused: `task is ${s}; only blocked tasks are unblocked` };
      return { to: 'new', event: 'unblocked', detail: `by ${ev.by}`, reason: '' };
    case 'reroute':
      if (s === 'done') return { refused: 'task is done; retry it first' };
      return { to: 'new', event: 'rerouted', detail: `${ev.agent || 'any agent'} (by ${ev.by})`, attemptEnds: s === 'in_progress' ? 'killed' : undefined, reason: '' };
  }
}
