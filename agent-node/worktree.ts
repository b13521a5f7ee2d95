// Repository mirrors and per-task worktrees. A node keeps one bare mirror per
// project (fetched from the project's remote), adds one worktree per task branch,
// and pushes task branches straight back to the remote. Mirror operations are
// serialised per mirror inside this process; concurrent fetch requests share one.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { git as runGit, GitError } from '../runtime/git.js';

const git = (cwd: string, args: string[]) => runGit(args, { cwd });

const locks = new Map<string, Promise<unknown>>();

function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  locks.set(key, next.catch(() => undefined));
  return next;
}

const pendingFetch = new Map<string, Promise<void>>();
const lastFetch = new Map<string, number>();

/**
 * Create the mirror on first use, then fetch. Callers arriving while a fetch is
 * queued share it; with `maxAgeMs`, a fetch that started that recently is enough
 * (a first attempt only needs a recent base branch; retries pass 0 to see the
 * branch an earlier attempt pushed).
 */
export async function ensureMirror(mirrorDir: string, remote: string, opts: { maxAgeMs?: number } = {}): Promise<void> {
  if (!remote) throw new Error('the project has no git remote to mirror from');
  const last = lastFetch.get(mirrorDir);
  if (opts.maxAgeMs && last !== undefined && Date.now() - last < opts.maxAgeMs && existsSync(mirrorDir)) return;
  const queued = pendingFetch.get(mirrorDir);
  if (queued) return queued;
  const p = withLock(mirrorDir, async () => {
    pendingFetch.delete(mirrorDir);
    const started = Date.now();
    if (!existsSync(mirrorDir)) {
      mkdirSync(dirname(mirrorDir), { recursive: true });
      await git(dirname(mirrorDir), ['clone', '--bare', '--quiet', remote, mirrorDir]);
      await git(mirrorDir, ['config', 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*']);
    } else {
      await git(mirrorDir, ['remote', 'set-url', 'origin', remote]);
    }
    await git(mirrorDir, ['fetch', '--quiet', '--prune', 'origin']);
    lastFetch.set(mirrorDir, started);
  });
  pendingFetch.set(mirrorDir, p);
  return p;
}

async function refExists(dir: string, ref: string): Promise<boolean> {
  try {
    await git(dir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

/**
 * The task's worktree on `branch`. A worktree left by an earlier attempt on this
 * node is kept (its work is committed and pushed already); otherwise the branch
 * starts from the remote's copy of it (an attempt on another node) or from the base.
 */
export async function ensureWorktree(o: { mirrorDir: string; worktreeDir: string; branch: string; baseBranch: string; firstAttempt?: boolean }): Promise<void> {
  await withLock(o.mirrorDir, async () => {
    if (existsSync(o.worktreeDir) && (await refExists(o.worktreeDir, 'HEAD'))) return;
    const remoteBranch = `refs/remotes/origin/${o.branch}`;
    const base = `refs/remotes/origin/${o.baseBranch}`;
    // --no-track: no per-branch upstream entries piling up in the mirror's config.
    const add = (from: string) => ['worktree', 'add', '--quiet', '--no-track', '-B', o.branch, o.worktreeDir, from];
    mkdirSync(dirname(o.worktreeDir), { recursive: true });
    // Fast path: a first attempt has no earlier work to continue, so no lookups before the add.
    let start = o.firstAttempt ? base : (await refExists(o.mirrorDir, remoteBranch)) ? remoteBranch : base;
    try {
      await git(o.mirrorDir, add(start));
      return;
    } catch {
      // Below: a stale registration at this path, a half-made directory, or a missing base.
    }
    rmSync(o.worktreeDir, { recursive: true, force: true });
    await git(o.mirrorDir, ['worktree', 'prune']);
    if (!(await refExists(o.mirrorDir, start))) {
      if (await refExists(o.mirrorDir, remoteBranch)) start = remoteBranch;
      else if (await refExists(o.mirrorDir, 'HEAD')) start = 'HEAD';
      else throw new Error(`base branch ${o.baseBranch} not found in the project's remote`);
    }
    await git(o.mirrorDir, add(start));
  });
}

/** Commit everything the agent left uncommitted. */
export async function commitAll(dir: string, message: string, who: { name: string; email: string }): Promise<{ committed: boolean; sha: string }> {
  await git(dir, ['add', '-A']);
  let committed = false;
  try {
    await git(dir, ['diff', '--cached', '--quiet']);
  } catch (err) {
    if (!(err instanceof GitError) || err.code !== 1) throw err;
    await git(dir, ['-c', `user.name=${who.name}`, '-c', `user.email=${who.email}`, 'commit', '--quiet', '--no-verify', '-m', message]);
    committed = true;
  }
  const sha = (await git(dir, ['rev-parse', 'HEAD'])).trim();
  return { committed, sha };
}

/** Push the task branch to the project's remote (fast-forward only: a stale attempt cannot clobber newer work). */
export async function pushBranch(worktreeDir: string, remote: string, branch: string): Promise<void> {
  await git(worktreeDir, ['push', '--quiet', remote, `HEAD:refs/heads/${branch}`]);
}
