// The walking skeleton, end to end, as a user runs it: a temp ORCH_HOME, a real git
// repository with a bare origin, `orch serve` on the embedded default, the CLI, and
// the real Claude Code CLI talking to a fake Anthropic API that scripts a file write.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../fixtures/fake-anthropic.js';
import { claudeAgentYaml, git, makeRepo, OrchHome } from '../harness/orch.js';
import { StopWaiting, waitFor } from '../harness/wait.js';

interface TaskJson {
  id: number; title: string; status: string; agent: string; model: string; complexity: string;
  project: string; branch: string; attempts: number; node: string; reason: string;
  attempt_history: Array<{ number: number; state: string; dir: string; node: string }>;
}

describe('orch serve on the embedded default', () => {
  let h: OrchHome;
  let fake: Awaited<ReturnType<typeof startFakeAnthropic>>;
  let repo: { work: string; origin: string };
  let gate: string;

  beforeAll(async () => {
    h = new OrchHome();
    fake = await startFakeAnthropic({ writeFile: { path: 'hello.txt', content: 'hello from claude\n' } });
    repo = await makeRepo(h.dir);
    gate = join(h.dir, 'gate');
    // A command agent that waits for a gate file: lets the test stop orch mid-task.
    const slow = join(h.dir, 'slow-agent.sh');
    writeFileSync(slow, [
      '#!/bin/bash',
      `while [ ! -f ${JSON.stringify(gate)} ]; do sleep 0.1; done`,
      'echo "slow work" > slow.txt',
      `echo '{"status":"done","summary":"slow agent finished","files_changed":["slow.txt"]}'`,
    ].join('\n') + '\n', { mode: 0o755 });
    h.writeConfig([
      'workflow:',
      '  max_attempts: 3',
      '  timeout_seconds: 300',
      'model_map:',
      '  medium: { claude: sonnet }',
      'agents:',
      ...claudeAgentYaml(fake.url, join(h.dir, 'claude-config')),
      '  slow:',
      '    kind: command',
      `    command: ${slow}`,
      '  ghost:',
      '    kind: command',
      '    command: /nonexistent/ghost-agent',
      'tmux:',
      `  socket: ${h.tmuxSocket}`,
      'node:',
      '  name: local',
      '  slots: 2',
      '',
    ].join('\n'));
  }, 120_000);

  afterAll(async () => {
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await fake?.close();
  });

  it('takes a task from the CLI to a committed branch with the real Claude Code CLI', async () => {
    const serve = await h.serve();
    try {
      const added = await h.run(['project', 'add', repo.work]);
      expect(added.stderr).toBe('');
      expect(added.code).toBe(0);
      expect(added.stdout).toContain('local/demo');

      const task = await h.json<TaskJson>(['task', 'add', 'Write a greeting', '--body', 'Create hello.txt', '--agent', 'claude'], { cwd: repo.work });
      expect(task.status).toBe('new');

      const done = await waitFor(async () => {
        const t = await h.json<TaskJson>(['task', 'get', String(task.id)]);
        // A task that failed will not reach done: say why now, not after the timeout.
        if (['needs_review', 'blocked'].includes(t.status)) throw new StopWaiting(`task ended ${t.status}: ${t.reason}\n${h.logOf('serve').slice(-4000)}`);
        return t.status === 'done' ? t : undefined;
      }, { timeoutMs: 120_000, intervalMs: 250, what: 'the task to reach done' });

      expect(done).toMatchObject({ agent: 'claude', model: 'sonnet', complexity: 'medium', project: 'local/demo', attempts: 1, node: 'local' });
      expect(done.branch).toMatch(/^orch\/\d+-write-a-greeting$/);
      // The branch reached the project's origin with the agent's file in a commit.
      expect(await git(['--git-dir', repo.origin, 'show', `${done.branch}:hello.txt`])).toBe('hello from claude\n');
      expect(Number(await git(['--git-dir', repo.origin, 'rev-list', '--count', `main..${done.branch}`]))).toBeGreaterThanOrEqual(1);

      // The attempt directory holds the artifacts.
      const dir = done.attempt_history[0].dir;
      expect(dir).toBe(join(h.home, 'state', 'local', 'demo', 'tasks', String(task.id), 'attempts', '1'));
      for (const f of ['prompt-sys.md', 'prompt-msg.md', 'runner.sh', 'exit.txt', 'stderr.txt', 'output.json', 'result.json', 'output.log']) {
        expect(existsSync(join(dir, f)), f).toBe(true);
      }
      expect(readFileSync(join(dir, 'exit.txt'), 'utf8').trim()).toBe('0');
      const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
      expect(result).toMatchObject({ outcome: 'success', agent: 'claude', status: 'done', attempt: 1 });
      // The secret API key reached the agent but no file of the attempt.
      for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8')).not.toContain('sk-ant-test-0123456789abcdef');
      // The fake API saw the Write tool call round trip.
      expect(fake.requests.some((r) => JSON.stringify(r.body).includes('tool_result'))).toBe(true);

      // No tmux session is left behind.
      await waitFor(async () => (await h.tmuxSessions()).length === 0, { what: 'tmux sessions to end' });
    } finally {
      await h.stop(serve);
    }
  }, 180_000);

  it('loses no task across a SIGTERM restart: a running task is recovered, finished ones keep their state', async () => {
    let serve = await h.serve();
    const before = await h.json<TaskJson[]>(['task', 'list']);
    expect(before.map((t) => t.status)).toEqual(['done']);

    const task = await h.json<TaskJson>(['task', 'add', 'Slow work', '--agent', 'slow', '--project', 'local/demo']);
    await waitFor(async () => (await h.json<TaskJson>(['task', 'get', String(task.id)])).attempt_history[0]?.state === 'running',
      { timeoutMs: 60_000, what: 'the slow task to start' });
    expect(await h.tmuxSessions()).toHaveLength(1);

    await h.stop(serve, 'SIGTERM');
    expect(serve.exitCode).toBe(0);
    serve = await h.serve();
    try {
      writeFileSync(gate, 'go');
      const t = await waitFor(async () => {
        const x = await h.json<TaskJson>(['task', 'get', String(task.id)]);
        if (['needs_review', 'blocked'].includes(x.status)) throw new StopWaiting(`recovered task ended ${x.status}: ${x.reason}\n${h.logOf('serve').slice(-4000)}`);
        return x.status === 'done' ? x : undefined;
      }, { timeoutMs: 60_000, what: 'the recovered task to finish' });
      expect(t.attempts).toBe(1); // re-attached to the surviving session, not re-run
      expect(await git(['--git-dir', repo.origin, 'show', `${t.branch}:slow.txt`])).toBe('slow work\n');
      const all = await h.json<TaskJson[]>(['task', 'list']);
      expect(all.map((x) => [x.id, x.status])).toEqual([[before[0].id, 'done'], [task.id, 'done']]);
    } finally {
      await h.stop(serve);
    }
  }, 180_000);

  it('a running orch serve follows config.yml edits and keeps the last good config on a broken one', async () => {
    const cfg = join(h.home, 'config.yml');
    const good = readFileSync(cfg, 'utf8');
    const serve = await h.serve();
    const maxAttempts = async () => (await h.run(['config', 'workflow.max_attempts'])).stdout.trim();
    try {
      expect(await maxAttempts()).toBe('3');
      writeFileSync(cfg, good.replace('max_attempts: 3', 'max_attempts: 7'));
      await waitFor(async () => (await maxAttempts()) === '7', { timeoutMs: 10_000, what: 'the new max_attempts' });
      writeFileSync(cfg, good.replace('max_attempts: 3', 'max_attempts: lots'));
      await waitFor(() => h.logOf('serve').includes('config.yml not reloaded'), { timeoutMs: 10_000, what: 'the reload error in the log' });
      const line = h.logOf('serve').split('\n').find((l) => l.includes('config.yml not reloaded'))!;
      expect(JSON.parse(line).msg).toContain(`${cfg}:2:17: workflow.max_attempts: expected a positive integer, got "lots"`);
      expect(await maxAttempts()).toBe('7');
    } finally {
      writeFileSync(cfg, good);
      await h.stop(serve);
    }
  }, 120_000);

  it('a task for an agent no node has waits, and says why', async () => {
    const serve = await h.serve();
    try {
      const t = await h.json<TaskJson & { reason: string }>(['task', 'add', 'Nobody can do this', '--agent', 'ghost'], { cwd: repo.work });
      const got = await waitFor(async () => {
        const x = await h.json<TaskJson & { reason: string }>(['task', 'get', String(t.id)]);
        return x.reason ? x : undefined;
      }, { what: 'the wait reason' });
      expect(got.status).toBe('routed');
      expect(got.reason).toBe('local: no ghost');
      const human = await h.run(['task', 'get', String(t.id)]);
      expect(human.stdout).toContain('status:     routed (local: no ghost)');
      expect((await h.run(['task', 'close', String(t.id), '--note', 'no such agent'])).code).toBe(0);
    } finally {
      await h.stop(serve);
    }
  }, 120_000);

  it('a broken config.yml gives one line naming the file, the line and the problem', async () => {
    const cfg = join(h.home, 'config.yml');
    const good = readFileSync(cfg, 'utf8');
    try {
      writeFileSync(cfg, 'workflow:\n  max_attempts: ten\n');
      const r = await h.run(['serve']);
      expect(r.code).not.toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`${cfg}:2`);
      expect(lines[0]).toContain('workflow.max_attempts');

      writeFileSync(cfg, 'workflow:\n  max_attempts: [1\n');
      const r2 = await h.run(['serve']);
      expect(r2.code).not.toBe(0);
      expect(r2.stderr.trim().split('\n')).toHaveLength(1);
      expect(r2.stderr).toContain(cfg);
    } finally {
      writeFileSync(cfg, good);
    }
  }, 60_000);
});
