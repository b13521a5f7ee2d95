// The node's moving parts with the real tools: runner.sh in tmux on a private
// socket (secrets through the FIFO, exit codes, timeouts) and git mirrors/worktrees
// against a bare origin (continuing another node's branch, refusing stale pushes).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LEASE_EXPIRED_EXIT, readExit, writeRunnerScript } from '../../agent-node/runner.js';
import { envScript, sessionName, Tmux, writeFifo } from '../../agent-node/tmux.js';
import { CommitError, commitAndPush, dropStaleSpares, ensureMirror, ensureWorktree, prepareSpare } from '../../agent-node/worktree.js';
import { git, makeRepo } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

const scratch = mkdtempSync(join(tmpdir(), 'orch-node-parts-'));
// Secrets of the node itself: tmux hands its server's environment to every session.
process.env.AWS_SECRET_ACCESS_KEY = 'node-own-aws-secret-0123456789';
process.env.ORCH_DATABASE_URL = 'postgres://orch:node-db-password@db/orch';
const tmux = new Tmux(`orch-test-parts-${process.pid}`);
afterAll(async () => {
  await tmux.killServer();
  rmSync(scratch, { recursive: true, force: true });
});

describe('runner.sh in tmux', () => {
  let n = 0;
  async function start(argv: string[], env: Record<string, string>, timeoutSeconds = 30, leaseFile?: string): Promise<{ dir: string; name: string }> {
    const dir = join(scratch, `attempt-${++n}`);
    const work = join(scratch, `work-${n}`);
    mkdirSync(dir, { recursive: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(dir, 'prompt.md'), 'the prompt\n');
    const { script, envFifo } = await writeRunnerScript({ attemptDir: dir, worktree: work, invocation: { argv, stdinFile: join(dir, 'prompt.md'), env }, timeoutSeconds, leaseFile });
    const name = `t-${n}`;
    await tmux.startSession(name, work, `bash ${JSON.stringify(script)}`);
    await writeFifo(envFifo, envScript(env), 10_000);
    return { dir, name };
  }

  async function run(argv: string[], env: Record<string, string>, timeoutSeconds = 30, leaseFile?: string): Promise<{ dir: string; code: number }> {
    const { dir, name } = await start(argv, env, timeoutSeconds, leaseFile);
    await waitFor(() => readExit(dir) !== undefined, { timeoutMs: 20_000, what: 'exit.txt' });
    const code = readExit(dir);
    await waitFor(async () => !(await tmux.hasSession(name)), { what: 'the session to end' });
    return { dir, code: code as number };
  }

  const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

  it('killing the tmux session stops the agent and everything it started', async () => {
    // The agent starts a grandchild that would outlive a plain hangup of the pane.
    const { dir, name } = await start(['bash', '-c', 'sleep 300 & echo "child $!"; wait'], {});
    await waitFor(() => existsSync(join(dir, 'output.log')) && /child \d+/.test(readFileSync(join(dir, 'output.log'), 'utf8')), { what: 'the agent to start its child' });
    const child = Number(/child (\d+)/.exec(readFileSync(join(dir, 'output.log'), 'utf8'))![1]);
    const agent = Number(readFileSync(join(dir, 'agent.pid'), 'utf8'));
    expect(alive(child)).toBe(true);
    await tmux.killSession(name);
    await waitFor(() => !alive(child) && !alive(agent), { timeoutMs: 10_000, what: 'the agent and its child to be gone' });
  });

  it('an agent whose node stops renewing its lease stops itself, and says why', async () => {
    const lease = join(scratch, 'node.lease');
    writeFileSync(lease, `${Math.floor(Date.now() / 1000) + 2}\n`); // renewed once, then the node "dies"
    const t0 = Date.now();
    const { dir, code } = await run(['bash', '-c', 'echo working; sleep 300'], {}, 600, lease);
    expect(code).toBe(LEASE_EXPIRED_EXIT);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(existsSync(join(dir, 'lease-expired'))).toBe(true);
    expect(readFileSync(join(dir, 'stderr.txt'), 'utf8')).toMatch(/lease ran out/);
    // While the lease is renewed, the agent runs to its end.
    writeFileSync(lease, `${Math.floor(Date.now() / 1000) + 60}\n`);
    expect((await run(['bash', '-c', 'sleep 3; exit 7'], {}, 600, lease)).code).toBe(7);
  });

  it('gives the agent its secret env and prompt on stdin; no file holds the secret', async () => {
    const secret = "sk-it's-$(not)-expanded `ever` \"quoted\"";
    const { dir, code } = await run(['bash', '-c', 'echo "key=$API_KEY"; cat; echo err >&2; echo "token=${ORCH_TOKEN:-unset}"'], { API_KEY: secret });
    expect(code).toBe(0);
    expect(readFileSync(join(dir, 'output.log'), 'utf8')).toBe(`key=${secret}\nthe prompt\ntoken=unset\n`);
    expect(readFileSync(join(dir, 'stderr.txt'), 'utf8')).toBe('err\n');
    expect(readFileSync(join(dir, 'runner.sh'), 'utf8')).not.toContain('sk-it');
    expect(existsSync(join(dir, 'env.fifo'))).toBe(false);
  });

  it('the agent sees its own env and a minimal environment, none of the node\'s secrets', async () => {
    const { dir, code } = await run(['bash', '-c', 'env | sort'], { AGENT_KEY: 'agent-own-key-42' });
    expect(code).toBe(0);
    const dump = readFileSync(join(dir, 'output.log'), 'utf8');
    expect(dump).toContain('AGENT_KEY=agent-own-key-42');
    expect(dump).toMatch(/^PATH=/m);
    expect(dump).toMatch(/^HOME=/m);
    expect(dump).not.toContain('node-own-aws-secret');
    expect(dump).not.toContain('node-db-password');
    expect(dump).not.toMatch(/^TMUX=/m);
  });

  it('records the exit code, and 124 when the time limit stops the agent', async () => {
    expect((await run(['bash', '-c', 'exit 3'], {})).code).toBe(3);
    expect((await run(['bash', '-c', 'command-that-does-not-exist-orch'], {})).code).toBe(127);
    const t0 = Date.now();
    expect((await run(['sleep', '30'], {}, 1)).code).toBe(124);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('names sessions tmux accepts and quotes env for bash', () => {
    expect(sessionName('owner/my.repo', 42, 3)).toBe('orch-my_repo-42-3');
    expect(envScript({ A: "x'y", 'BAD-NAME': 'z' })).toBe("export A='x'\\''y'\n");
    const out = execFileSync('bash', ['-c', `${envScript({ V: "a'b $HOME `id`" })}printf %s "$V"`]).toString();
    expect(out).toBe("a'b $HOME `id`");
  });
});

describe('mirrors and worktrees', () => {
  it('two nodes: the second continues the branch the first pushed; a stale push is refused', async () => {
    const repo = await makeRepo(scratch, 'wt');
    const who = { name: 'orch-test', email: 'orch@test.invalid' };
    const branch = 'orch/7-do-it';
    // Node A: first attempt.
    const mirrorA = join(scratch, 'a', 'repos', 'wt.git');
    const wtA = join(scratch, 'a', 'worktrees', branch);
    await ensureMirror(mirrorA, repo.origin);
    await ensureWorktree({ mirrorDir: mirrorA, worktreeDir: wtA, branch, baseBranch: 'main' });
    writeFileSync(join(wtA, 'a.txt'), 'from A\n');
    const ca = await commitAndPush({ dir: wtA, message: 'attempt 1', who, remote: repo.origin, branch });
    expect(ca).toMatchObject({ committed: true, pushed: true });
    expect(await commitAndPush({ dir: wtA, message: 'nothing new', who, branch })).toMatchObject({ committed: false, sha: ca.sha, pushed: false });

    // Node B: the retry starts from A's pushed work, not from main.
    const mirrorB = join(scratch, 'b', 'repos', 'wt.git');
    const wtB = join(scratch, 'b', 'worktrees', branch);
    await Promise.all([ensureMirror(mirrorB, repo.origin), ensureMirror(mirrorB, repo.origin)]);
    await ensureWorktree({ mirrorDir: mirrorB, worktreeDir: wtB, branch, baseBranch: 'main' });
    expect(readFileSync(join(wtB, 'a.txt'), 'utf8')).toBe('from A\n');
    writeFileSync(join(wtB, 'b.txt'), 'from B\n');
    expect(await commitAndPush({ dir: wtB, message: 'attempt 2', who, remote: repo.origin, branch })).toMatchObject({ committed: true, pushed: true });

    // A's late work (it was presumed lost) cannot clobber B's.
    writeFileSync(join(wtA, 'late.txt'), 'late\n');
    const late = await commitAndPush({ dir: wtA, message: 'late attempt 1', who, remote: repo.origin, branch }).catch((e: CommitError) => e);
    expect(late).toBeInstanceOf(CommitError);
    expect((late as CommitError).message).toMatch(/^git push failed: .*\[rejected\].*(fetch first|non-fast-forward)/);
    expect((late as CommitError).sha).toMatch(/^[0-9a-f]{40}$/); // committed locally, refused remotely
    expect((await git(['--git-dir', repo.origin, 'ls-tree', '--name-only', branch])).split('\n').filter(Boolean).sort()).toEqual(['README.md', 'a.txt', 'b.txt']);
  });

  it('the current attempt\'s push, leased against the head the coordinator accepted, wins over a superseded attempt that pushed first', async () => {
    const repo = await makeRepo(scratch, 'lease');
    const who = { name: 'orch-test', email: 'orch@test.invalid' };
    const branch = 'orch/11-lease';
    const mirrorA = join(scratch, 'la', 'repos', 'lease.git');
    const mirrorB = join(scratch, 'lb', 'repos', 'lease.git');
    const wtA = join(scratch, 'la', 'wt');
    const wtB = join(scratch, 'lb', 'wt');
    // Attempt 1 (on A) was accepted with head H1.
    await ensureMirror(mirrorA, repo.origin);
    await ensureWorktree({ mirrorDir: mirrorA, worktreeDir: wtA, branch, baseBranch: 'main', firstAttempt: true });
    writeFileSync(join(wtA, 'one.txt'), '1\n');
    const h1 = (await commitAndPush({ dir: wtA, message: 'attempt 1', who, remote: repo.origin, branch })).sha;
    // Attempt 2 (A) is presumed lost; attempt 3 (B) is current. Both start from H1, and their assignments name H1.
    await ensureMirror(mirrorB, repo.origin);
    await ensureWorktree({ mirrorDir: mirrorB, worktreeDir: wtB, branch, baseBranch: 'main' });
    // The superseded attempt 2 slips a push in first (a fast-forward of H1).
    writeFileSync(join(wtA, 'two.txt'), '2\n');
    expect((await commitAndPush({ dir: wtA, message: 'attempt 2 (superseded)', who, remote: repo.origin, branch, expectHead: h1 })).pushed).toBe(true);
    // The current attempt's push is leased against H1, not fast-forward only: its work becomes the branch.
    writeFileSync(join(wtB, 'three.txt'), '3\n');
    const h2 = (await git(['--git-dir', repo.origin, 'rev-parse', branch])).trim();
    const h3 = await commitAndPush({ dir: wtB, message: 'attempt 3', who, remote: repo.origin, branch, expectHead: h1 });
    expect(h3).toMatchObject({ pushed: true, superseded: h2 });
    expect((await git(['--git-dir', repo.origin, 'rev-parse', branch])).trim()).toBe(h3.sha);
    expect((await git(['--git-dir', repo.origin, 'ls-tree', '--name-only', branch])).split('\n').filter(Boolean).sort()).toEqual(['README.md', 'one.txt', 'three.txt']);
  });

  it('orch\'s own commit and push run no hooks the agent planted', async () => {
    const repo = await makeRepo(scratch, 'hooks');
    const mirror = join(scratch, 'h', 'repos', 'hooks.git');
    const wt = join(scratch, 'h', 'wt');
    await ensureMirror(mirror, repo.origin);
    await ensureWorktree({ mirrorDir: mirror, worktreeDir: wt, branch: 'orch/5-hooks', baseBranch: 'main', firstAttempt: true });
    const marker = join(scratch, 'hook-ran');
    const hooks = join((await git(['rev-parse', '--git-common-dir'], wt)).trim().replace(/^(?!\/)/, `${wt}/`), 'hooks');
    mkdirSync(hooks, { recursive: true });
    for (const h of ['pre-commit', 'commit-msg', 'post-commit', 'pre-push']) writeFileSync(join(hooks, h), `#!/bin/sh\necho ${h} >> ${marker}\n`, { mode: 0o755 });
    await git(['config', 'core.hooksPath', hooks], wt); // the agent may point hooks anywhere
    writeFileSync(join(wt, 'work.txt'), 'work\n');
    const c = await commitAndPush({ dir: wt, message: 'attempt 1', who: { name: 't', email: 't@e' }, remote: repo.origin, branch: 'orch/5-hooks' });
    expect(c.pushed).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });

  it('a retry on a node that kept an old worktree continues from the branch another attempt pushed', async () => {
    const repo = await makeRepo(scratch, 'catchup');
    const who = { name: 'orch-test', email: 'orch@test.invalid' };
    const branch = 'orch/9-retry';
    const mirrorA = join(scratch, 'ca', 'repos', 'catchup.git');
    const mirrorB = join(scratch, 'cb', 'repos', 'catchup.git');
    const wtA = join(scratch, 'ca', 'wt');
    const wtB = join(scratch, 'cb', 'wt');
    // Attempt 1 on A and attempt 2 on B both start from main; A (presumed lost) pushes first.
    await ensureMirror(mirrorA, repo.origin);
    await ensureMirror(mirrorB, repo.origin);
    await ensureWorktree({ mirrorDir: mirrorA, worktreeDir: wtA, branch, baseBranch: 'main', firstAttempt: true });
    await ensureWorktree({ mirrorDir: mirrorB, worktreeDir: wtB, branch, baseBranch: 'main' });
    writeFileSync(join(wtA, 'a.txt'), 'A\n');
    const a = await commitAndPush({ dir: wtA, message: 'attempt 1', who, remote: repo.origin, branch });
    writeFileSync(join(wtB, 'b.txt'), 'B\n');
    const b = await commitAndPush({ dir: wtB, message: 'attempt 2', who, remote: repo.origin, branch }).catch((e: CommitError) => e);
    expect(b).toBeInstanceOf(CommitError);
    // Attempt 3 lands on B again: it must start from what A pushed, not from B's stale head.
    await ensureMirror(mirrorB, repo.origin);
    await ensureWorktree({ mirrorDir: mirrorB, worktreeDir: wtB, branch, baseBranch: 'main' });
    expect((await git(['rev-parse', 'HEAD'], wtB)).trim()).toBe(a.sha);
    expect((await git(['for-each-ref', '--format=%(objectname)', `refs/orch/superseded/${branch}/`], mirrorB)).trim()).toBe((b as CommitError).sha);
    writeFileSync(join(wtB, 'c.txt'), 'C\n');
    expect(await commitAndPush({ dir: wtB, message: 'attempt 3', who, remote: repo.origin, branch })).toMatchObject({ pushed: true });
  });

  it('a warm spare worktree is moved into place for a first attempt, and never used once the base moved on', async () => {
    const repo = await makeRepo(scratch, 'warm');
    const mirror = join(scratch, 'w', 'repos', 'warm.git');
    const trees = join(scratch, 'w', 'worktrees', 'local', 'warm');
    await ensureMirror(mirror, repo.origin);
    prepareSpare(mirror, trees, 'main');
    await waitFor(() => readdirSync(trees).some((e) => e.startsWith('.spare-')), { what: 'the spare worktree' });
    const head = (await git(['rev-parse', 'HEAD'], repo.work)).trim();
    const wt1 = join(trees, 'orch', '1-first');
    await ensureWorktree({ mirrorDir: mirror, worktreeDir: wt1, branch: 'orch/1-first', baseBranch: 'main', firstAttempt: true });
    expect(readdirSync(trees).filter((e) => e.startsWith('.spare-'))).toEqual([]); // it was the spare
    expect((await git(['rev-parse', '--abbrev-ref', 'HEAD'], wt1)).trim()).toBe('orch/1-first');
    expect((await git(['rev-parse', 'HEAD'], wt1)).trim()).toBe(head);

    // A spare made before main moved must not become the next task's starting point.
    prepareSpare(mirror, trees, 'main');
    await waitFor(() => readdirSync(trees).some((e) => e.startsWith('.spare-')), { what: 'the second spare' });
    writeFileSync(join(repo.work, 'new.txt'), 'new\n');
    await git(['add', '.'], repo.work);
    await git(['-c', 'user.name=t', '-c', 'user.email=t@e', 'commit', '-qm', 'base moves'], repo.work);
    await git(['push', '-q', 'origin', 'main'], repo.work);
    await ensureMirror(mirror, repo.origin);
    const wt2 = join(trees, 'orch', '2-second');
    await ensureWorktree({ mirrorDir: mirror, worktreeDir: wt2, branch: 'orch/2-second', baseBranch: 'main', firstAttempt: true });
    expect(existsSync(join(wt2, 'new.txt'))).toBe(true);
    await waitFor(() => !readdirSync(trees).some((e) => e.startsWith('.spare-')), { what: 'the stale spare to be dropped' });
    // Left-over spares of an earlier run are removed at node start.
    prepareSpare(mirror, trees, 'main');
    await waitFor(() => readdirSync(trees).some((e) => e.startsWith('.spare-')), { what: 'a third spare' });
    dropStaleSpares(join(scratch, 'w', 'worktrees'));
    expect(readdirSync(trees).filter((e) => e.startsWith('.spare-'))).toEqual([]);
  });

  it('a missing base branch falls back to the remote default branch; a bad remote is a clear error', async () => {
    const repo = await makeRepo(scratch, 'nobase');
    const mirror = join(scratch, 'c', 'repos', 'nobase.git');
    await ensureMirror(mirror, repo.origin);
    await expect(ensureWorktree({ mirrorDir: mirror, worktreeDir: join(scratch, 'c', 'wt'), branch: 'orch/1-x', baseBranch: 'develop' }))
      .resolves.toBeUndefined(); // falls back to the remote's HEAD
    await expect(ensureMirror(join(scratch, 'd.git'), join(scratch, 'no-such-remote.git'))).rejects.toThrow(/repository '.*no-such-remote\.git' does not exist/);
  });
});
