// What the task store refuses, as classes the gRPC layer maps to status codes by name
// (coordinator/grpc/handlers.ts), each with a message that says what to do next.
import type { TaskStatus } from '../lifecycle.js';

/** A transition expected the task in one status but it was in another: someone changed it first. */
export class StaleTransitionError extends Error {
  constructor(readonly taskId: number, readonly expected: TaskStatus, readonly actual: TaskStatus) {
    super(`task ${taskId} is ${actual}, not ${expected}: it changed since it was read; reload it and decide again`);
    this.name = 'StaleTransitionError';
  }
}

export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** A report carried a token that is not the attempt's: it comes from a lease that was lost. */
export class FencedError extends Error {
  constructor(readonly taskId: number, readonly attempt: number) {
    super(`attempt ${attempt} of task ${taskId} belongs to another lease (its fencing token differs): the report is refused`);
    this.name = 'FencedError';
  }
}

/** removeProject on a project whose tasks are not all done. */
export class ProjectInUseError extends Error {
  constructor(readonly project: string, readonly unfinished: Array<{ id: number; status: TaskStatus }>) {
    const list = unfinished.slice(0, 5).map((t) => `#${t.id} ${t.status}`).join(', ') + (unfinished.length > 5 ? ', …' : '');
    super(`project ${project} has ${unfinished.length} unfinished task(s) (${list}): close them first (orch task close <id>)`);
    this.name = 'ProjectInUseError';
  }
}

/** The database could not be started or reached; the message is one line a user can act on. */
export class DatabaseUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}

/** Another coordinator took over (the leadership epoch moved on): this one must not write. */
export class NotLeaderError extends Error {
  constructor(readonly epoch: number, readonly current: number | undefined) {
    super(`this coordinator's leadership (epoch ${epoch}) ended${current !== undefined ? `; epoch ${current} leads now` : ''}: the write is refused`);
    this.name = 'NotLeaderError';
  }
}
