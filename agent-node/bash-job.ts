// Bash jobs on a node: the coordinator sends `op: 'bash_job'` on the node's control
// subject; the node runs the job's command with bash in the job's own checkout of the
// project's base branch (a detached worktree of the node's mirror, reset to the base before
// every run), with the minimal environment agents get, under a timeout, and replies with
// the exit code and the redacted tail of its output.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { git } from '../runtime/git.js';
import { logger } from '../runtime/log.js';
import type { OrchPaths } from '../runtime/paths.js';
import { redact } from '../runtime/redact.js';
import { runInGroup } from './process-group.js';
import { BASE_ENV } from './runner.js';
import { ensureMirror } from './worktree.js';

const log = logger('bash-job');

/** What the coordinator sends (`op: 'bash_job'`). */
export interface BashJobWire {
  op: 'bash_job';
  job: string;
  /** The run's scheduled time (RFC 3339), for logs and ORCH_JOB_RUN. */
  run: string;
  project: string;
  remote: string;
  baseBranch: string;
  command: string;
  timeoutMs: number;
}

/** The node's reply. */
export interface BashJobReply {
  ok: boolean;
  node: string;
  /** null: no exit code (it never started, or was killed by a signal). */
  exitCode: number | null;
  timedOut: boolean;
  /** stdout and stderr interleaved, redacted; its tail when longer than the bound. */
  output: string;
  truncated: boolean;
  durationMs: number;
  /** Why it could not run (checkout failed, busy). */
  error?: string;
}

/** Output kept per run: the tail past this is what a person reads first anyway. */
export const MAX_JOB_OUTPUT = 64 * 1024;
/** Bash jobs at once on one node (they do not take task slots). */
export const MAX_BASH_JOBS = 2;

export function isBashJobWire(v: unknown): v is BashJobWire {
  const r = v as Partial<BashJobWire>;
  return !!r && r.op === 'bash_job' && typeof r.job === 'string' && /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(r.job)
    && typeof r.command === 'string' && r.command.trim() !== '' && typeof r.project === 'string' && /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(r.project)
    && !r.project.split('/').includes('..') && typeof r.remote === 'string' && typeof r.baseBranch === 'string'
    && typeof r.timeoutMs === 'number' && r.timeoutMs > 0 && typeof r.run === 'string';
}

export class BashJobRunner {
  private running = new Set<string>();

  constructor(private readonly o: { node: string; paths: OrchPaths }) {}

  /** The job's checkout: one per job and project, reused across runs. */
  checkout(project: string, job: string): string {
    return join(this.o.paths.worktreesOf(project), `.job-${job}`);
  }

  async run(req: BashJobWire): Promise<BashJobReply> {
    const t0 = Date.now();
    const fail = (error: string): BashJobReply => ({
      ok: false, node: this.o.node, exitCode: null, timedOut: false, output: '', truncated: false, durationMs: Date.now() - t0, error: redact(error).slice(0, 500),
    });
    // One run of a job at a time here too (the coordinator already never overlaps a job).
    if (this.running.has(req.job)) return fail(`job ${req.job} is already running on node ${this.o.node}`);
    if (this.running.size >= MAX_BASH_JOBS) return fail(`node ${this.o.node} already runs ${MAX_BASH_JOBS} bash jobs`);
    this.running.add(req.job);
    try {
      const dir = this.checkout(req.project, req.job);
      try {
        await this.prepare(req, dir);
      } catch (err) {
        return fail(`could not check out ${req.baseBranch} of ${req.project}: ${(err as Error).message}`);
      }
      const env: Record<string, string> = {};
      for (const k of BASE_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
      Object.assign(env, { ORCH_JOB: req.job, ORCH_JOB_RUN: req.run, ORCH_NODE: this.o.node, ORCH_PROJECT: req.project });
      const r = await runBash(req.command, { cwd: dir, env, timeoutMs: req.timeoutMs });
      log.info('bash job ran', { job: req.job, exitCode: r.exitCode, timedOut: r.timedOut, ms: Date.now() - t0 });
      return { ok: true, node: this.o.node, ...r, durationMs: Date.now() - t0 };
    } finally {
      this.running.delete(req.job);
    }
  }

  /** A clean checkout of the base branch as the remote has it now (ignored files stay: caches, deps). */
  private async prepare(req: BashJobWire, dir: string): Promise<void> {
    const mirror = this.o.paths.mirror(req.project);
    await ensureMirror(mirror, req.remote, { maxAgeMs: 0 });
    const base = `refs/remotes/origin/${req.baseBranch}`;
    if (!existsSync(join(dir, '.git'))) {
      mkdirSync(dirname(dir), { recursive: true });
      await git(['worktree', 'prune'], { cwd: mirror }).catch(() => undefined);
      await git(['worktree', 'add', '--quiet', '--detach', '--force', dir, base], { cwd: mirror });
      return;
    }
    await git(['checkout', '--quiet', '--detach', '--force', base], { cwd: dir });
    await git(['clean', '-fdq'], { cwd: dir });
  }
}

/** bash -c COMMAND in its own process group; the timeout stops it and all it started. */
async function runBash(command: string, o: { cwd: string; env: Record<string, string>; timeoutMs: number }):
  Promise<{ exitCode: number | null; timedOut: boolean; output: string; truncated: boolean }> {
  let kept: Buffer[] = [];
  let size = 0;
  let dropped = false;
  const keep = (b: Buffer) => {
    kept.push(b);
    size += b.length;
    // Keep the tail: drop whole chunks from the front while well past the bound.
    while (size - kept[0].length >= MAX_JOB_OUTPUT) { size -= kept[0].length; kept = kept.slice(1); dropped = true; }
  };
  const r = await runInGroup(['bash', '-c', command], { ...o, onStdout: keep, onStderr: keep });
  let text = r.spawnError ?? Buffer.concat(kept).toString('utf8');
  const truncated = dropped || text.length > MAX_JOB_OUTPUT;
  if (text.length > MAX_JOB_OUTPUT) text = text.slice(-MAX_JOB_OUTPUT);
  return { exitCode: r.code, timedOut: r.timedOut, output: redact(text), truncated };
}
