// Repository mirrors and per-task worktrees. A node keeps one bare mirror per
// project (fetched from the project's remote), adds one worktree per task branch,
// and pushes task branches straight back to the remote. Mirror operations are
// serialised per mirror inside this process; concurrent fetch requests share one.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { git as runGit, summarize } from '../runtime/git.js';

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

const CATCH_UP = `
cd "$1" || exit 1
r="refs/remotes/origin/$2"
git rev-parse --quiet --verify "$r^{commit}" >/dev/null || exit 0
git merge-base --is-ancestor "$r" HEAD && exit 0
git update-ref "refs/orch/superseded/$2/$(date +%s%N)" HEAD
git reset --quiet --hard "$r"
`;

interface ScriptRun { code: number; stdout: string; stderr: string }

/** Run a small bash script (arguments as $1..$n, never interpolated): one spawn for several git steps. */
function runScript(script: string, args: string[], timeoutMs = 120_000): Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script, 'orch-git', ...args], {
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => resolve({
      code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
      stdout: String(stdout),
      stderr: String(stderr) || (err?.message ?? ''),
    }));
  });
}

/** runScript for scripts whose only output that matters is success; rejects with git's reason. */
async function bash(script: string, args: string[]): Promise<string> {
  const r = await runScript(script, args);
  if (r.code !== 0) throw new Error(summarize(r.stderr));
  return r.stdout;
}

/** A ref's commit read straight from the repository's files (no process), or undefined. */
export function readRef(gitDir: string, ref: string): string | undefined {
  try {
    const v = readFileSync(join(gitDir, ref), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(v)) return v;
  } catch {
    // not a loose ref
  }
  try {
    for (const line of readFileSync(join(gitDir, 'packed-refs'), 'utf8').split('\n')) {
      const [sha, name] = line.split(' ');
      if (name === ref && /^[0-9a-f]{40}$/.test(sha)) return sha;
    }
  } catch {
    // no packed refs
  }
  return undefined;
}

// Warm spares: one detached worktree per (mirror, base branch), made in the background
// after each use, so a first attempt only moves it into place and names its branch.
interface Spare { path: string; sha: string }
const spares = new Map<string, Promise<Spare | undefined>>();
let spareSeq = 0;
const SPARE_PREFIX = '.spare-';

/** Start making the next spare worktree (no-op when one exists or is being made). */
export function prepareSpare(mirrorDir: string, worktreesDir: string, baseBranch: string): void {
  const key = `${mirrorDir}\n${baseBranch}`;
  if (spares.has(key)) return;
  const path = join(worktreesDir, `${SPARE_PREFIX}${process.pid}-${++spareSeq}`);
  spares.set(key, withLock(mirrorDir, async () => {
    mkdirSync(worktreesDir, { recursive: true });
    const sha = (await bash('git -C "$1" worktree add --quiet --detach "$2" "$3" && git -C "$2" rev-parse HEAD', [mirrorDir, path, `refs/remotes/origin/${baseBranch}`])).trim();
    return { path, sha };
  }).catch(() => {
    rmSync(path, { recursive: true, force: true });
    return undefined;
  }));
}

/** Remove spares a previous run of this node left behind (their directories; `worktree prune` forgets them). */
export function dropStaleSpares(worktreesRoot: string): void {
  const walk = (dir: string, depth: number) => {
    let entries: string[] = [];
    try { entries = readdirSync(dir); } catch { return; }
    for (const e of entries) {
      if (e.startsWith(SPARE_PREFIX)) rmSync(join(dir, e), { recursive: true, force: true });
      else if (depth < 2) walk(join(dir, e), depth + 1);
    }
  };
  walk(worktreesRoot, 0);
}

/** Move a ready spare at the current base commit into place as `branch`; false when there is none to use. */
async function takeSpare(o: { mirrorDir: string; worktreeDir: string; branch: string; baseBranch: string }): Promise<boolean> {
  const key = `${o.mirrorDir}\n${o.baseBranch}`;
  const pending = spares.get(key);
  if (!pending) return false;
  spares.delete(key);
  const spare = await pending;
  if (!spare) return false;
  const drop = () => withLock(o.mirrorDir, async () => {
    rmSync(spare.path, { recursive: true, force: true });
    await git(o.mirrorDir, ['worktree', 'prune']).catch(() => undefined);
  });
  if (readRef(o.mirrorDir, `refs/remotes/origin/${o.baseBranch}`) !== spare.sha) {
    void drop(); // the base moved on since the spare was made
    return false;
  }
  try {
    await withLock(o.mirrorDir, () => bash('git -C "$1" worktree move "$2" "$3" && git -C "$3" checkout --quiet -B "$4"', [o.mirrorDir, spare.path, o.worktreeDir, o.branch]));
    return true;
  } catch {
    await drop();
    rmSync(o.worktreeDir, { recursive: true, force: true });
    return false;
  }
}

/**
 * The task's worktree on `branch`. A worktree left by an earlier attempt on this
 * node is kept (its work is committed and pushed already); otherwise the branch
 * starts from the remote's copy of it (an attempt on another node) or from the base.
 */
export async function ensureWorktree(o: { mirrorDir: string; worktreeDir: string; branch: string; baseBranch: string; firstAttempt?: boolean }): Promise<void> {
  if (o.firstAttempt && !existsSync(o.worktreeDir)) {
    mkdirSync(dirname(o.worktreeDir), { recursive: true });
    if (await takeSpare(o)) return;
  }
  await withLock(o.mirrorDir, async () => {
    if (existsSync(o.worktreeDir) && (await refExists(o.worktreeDir, 'HEAD'))) {
      // A worktree an earlier attempt left here. The remote branch is the truth: when another
      // attempt pushed work this one lacks, start from that (keeping the old head under refs/orch/).
      if (!o.firstAttempt) await bash(CATCH_UP, [o.worktreeDir, o.branch]);
      return;
    }
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

// One bash process for the whole end of an attempt (add, commit, rev-parse, push):
// every spawn from a large Node process costs a fork, so a node does the few it must.
const COMMIT_AND_PUSH = `
set -u
cd "$1" || exit 90
git -c core.hooksPath=/dev/null add -A || exit 91
if git diff --cached --quiet; then echo committed=0; else
  git -c core.hooksPath=/dev/null -c user.name="$3" -c user.email="$4" commit --quiet --no-verify -m "$2" || exit 92
  echo committed=1
fi
echo "sha=$(git rev-parse HEAD)" || exit 93
# What the branch changed since the base, for the next attempt's prompt (bounded).
if [ -n "$8" ] && git rev-parse -q --verify "$8^{commit}" >/dev/null 2>&1; then
  echo "--- files"; git diff --name-only "$8...HEAD" 2>/dev/null | head -n 200
  echo "--- diff"; git diff --no-color "$8...HEAD" 2>/dev/null | head -c "$9"; echo
  echo "--- end"
fi
[ -n "$5" ] || exit 0
if [ -n "$7" ]; then
  # Leased against the head the coordinator last accepted ($7). Only the current attempt
  # gets here (it passed the coordinator's lease check just before), so a branch head that
  # is not $7 was pushed by a superseded attempt: replace it, leased against that head.
  if ! err=$(git -c core.hooksPath=/dev/null push --no-verify --quiet --force-with-lease="refs/heads/$6:$7" "$5" "HEAD:refs/heads/$6" 2>&1); then
    r=$(git ls-remote "$5" "refs/heads/$6" | cut -f1)
    if [ -z "$r" ] || [ "$r" = "$7" ]; then printf '%s\n' "$err" >&2; exit 94; fi
    echo "superseded=$r"
    git -c core.hooksPath=/dev/null push --no-verify --quiet --force-with-lease="refs/heads/$6:$r" "$5" "HEAD:refs/heads/$6" || exit 94
  fi
else
  git -c core.hooksPath=/dev/null push --no-verify --quiet "$5" "HEAD:refs/heads/$6" || exit 94
fi
echo pushed=1
`;

const STEP: Record<number, string> = { 90: 'cd into the worktree', 91: 'git add', 92: 'git commit', 93: 'git rev-parse', 94: 'git push' };

export class CommitError extends Error {
  constructor(readonly step: string, stderr: string, readonly sha: string) {
    super(`${step} failed: ${summarize(stderr)}`);
    this.name = 'CommitError';
  }
}

/**
 * Commit everything the agent left uncommitted and, when `remote` is given, push the
 * branch there: leased against `expectHead` (the head the coordinator last accepted)
 * when there is one, else fast-forward only. Either way a stale attempt cannot clobber
 * newer work. Rejects with a CommitError naming the step; its `sha` is set when the commit was made.
 */
export async function commitAndPush(o: {
  dir: string; message: string; who: { name: string; email: string }; remote?: string; branch: string; expectHead?: string;
  /** Ref the branch started from: the result then carries the branch's files and diff since it. */
  diffBase?: string; diffMaxBytes?: number;
}): Promise<{ committed: boolean; sha: string; pushed: boolean; superseded?: string; files: string[]; diff: string }> {
  const r = await runScript(COMMIT_AND_PUSH, [o.dir, o.message, o.who.name, o.who.email, o.remote ?? '', o.branch, o.expectHead ?? '', o.diffBase ?? '', String(o.diffMaxBytes ?? 16_384)], 300_000);
  const superseded = /^superseded=([0-9a-f]+)$/m.exec(r.stdout)?.[1];
  const m = /^--- files\n([\s\S]*?)^--- diff\n([\s\S]*?)\n^--- end$/m.exec(r.stdout);
  const facts = {
    committed: /^committed=1$/m.test(r.stdout), sha: /^sha=([0-9a-f]+)$/m.exec(r.stdout)?.[1] ?? '', pushed: /^pushed=1$/m.test(r.stdout),
    ...(superseded ? { superseded } : {}), files: m ? m[1].split('\n').filter(Boolean) : [], diff: m ? m[2] : '',
  };
  if (r.code !== 0) throw new CommitError(STEP[r.code] ?? `commit script (exit ${r.code})`, r.stderr, facts.sha);
  return facts;
}
