// The layout of $ORCH_HOME: everything orch writes on a machine lives under it,
// so several nodes (and every test) can run side by side on one host.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function orchHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.ORCH_HOME && env.ORCH_HOME.trim() !== '' ? env.ORCH_HOME : join(homedir(), '.orch');
}

export class OrchPaths {
  constructor(readonly home: string) {}

  get config(): string { return join(this.home, 'config.yml'); }
  /** Where a running coordinator writes its address and pid for local CLIs. */
  get coordinatorFile(): string { return join(this.home, 'run', 'coordinator.json'); }
  get runDir(): string { return join(this.home, 'run'); }
  /**
   * The node's lease: epoch seconds until which its sessions may run. Renewed at every
   * heartbeat that reached the coordinator's side; a session whose node stopped renewing
   * it stops itself, so a re-run elsewhere never overlaps it.
   */
  get nodeLease(): string { return join(this.home, 'run', 'node.lease'); }
  get logFile(): string { return join(this.home, 'state', 'orch.log'); }
  /** The coordinator's own log (JSON lines, rotated by size): what `orch log` reads. */
  get coordinatorLog(): string { return join(this.home, 'logs', 'coordinator.log'); }
  get pgData(): string { return join(this.home, 'pg', 'data'); }
  /** Coordinator-side copy of attempt output, streamed up from nodes. */
  outputLog(taskId: number, attempt: number): string {
    return join(this.home, 'logs', 'tasks', String(taskId), `attempt-${attempt}.log`);
  }
  mirror(project: string): string { return join(this.home, 'repos', `${project}.git`); }
  worktree(project: string, branch: string): string { return join(this.home, 'worktrees', project, branch); }
  /** Where a project's worktrees live (its warm spare included). */
  worktreesOf(project: string): string { return join(this.home, 'worktrees', project); }
  get worktreesRoot(): string { return join(this.home, 'worktrees'); }
  taskState(project: string, taskId: number): string { return join(this.home, 'state', project, 'tasks', String(taskId)); }
  attemptDir(project: string, taskId: number, attempt: number): string {
    return join(this.taskState(project, taskId), 'attempts', String(attempt));
  }
  /** Node-side index of live sessions, so a restarted node finds them again. */
  get sessionsDir(): string { return join(this.home, 'state', 'sessions'); }
}
