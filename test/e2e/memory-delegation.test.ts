// Retries with memory and delegations, end to end through `orch serve`: a scripted command
// agent (reads its prompt on stdin, keeps a copy) continues a task whose first attempt left
// learnings and a diff, and splits another task into child tasks the parent waits for.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

interface TaskJson {
  id: number; status: string; reason: string; branch: string; attempts: number; parent_id: number; children: number[];
  events: Array<{ event: string; to_status: string; detail: string }>;
}

describe('retries with memory, reroutes, delegations', () => {
  let h: OrchHome;
  let repo: { work: string; origin: string };
  let serve: Awaited<ReturnType<OrchHome['serve']>>;

  beforeAll(async () => {
    h = new OrchHome('orch-memory-');
    repo = await makeRepo(h.dir);
    const agent = join(h.dir, 'scripted-agent.sh');
    writeFileSync(agent, [
      '#!/bin/bash',
      'prompt=$(cat)',
      'printf "%s" "$prompt" > "$PROMPTS/task-$ORCH_TASK_ID-attempt-$ORCH_ATTEMPT.md"',
      'case "$prompt" in',
      '  *MEMORY-TEST*)',
      '    if [ "$ORCH_ATTEMPT" = 1 ]; then',
      '      echo "first line" > notes.txt',
      `      echo '{"status":"in_progress","summary":"started the notes","accomplished":["wrote the first line of notes.txt"],"learnings":["notes.txt still needs its second line"],"files_changed":["notes.txt"]}'`,
      '    else',
      '      echo "second line" >> notes.txt',
      `      echo '{"status":"done","summary":"finished the notes"}'`,
      '    fi ;;',
      '  *DELEGATE-TEST*)',
      '    if [ "$ORCH_ATTEMPT" = 1 ]; then',
      `      echo '{"status":"done","summary":"split in two","delegations":[{"title":"child one","body":"CHILD-TEST one","labels":["part"]},{"title":"child two","body":"CHILD-TEST two"}]}'`,
      '    else',
      `      echo '{"status":"done","summary":"parent finished after its children"}'`,
      '    fi ;;',
      '  *REROUTE-TEST*)',
      `    echo '{"status":"done","summary":"took over from the rate-limited agent"}' ;;`,
      '  *CHILD-TEST*)',
      '    echo child > "child-$ORCH_TASK_ID.txt"',
      `    echo '{"status":"done","summary":"child done"}' ;;`,
      'esac',
    ].join('\n') + '\n', { mode: 0o755 });
    // An agent whose provider always answers 429 (as a CLI prints it).
    const limited = join(h.dir, 'limited-agent.sh');
    writeFileSync(limited, '#!/bin/bash\ncat > /dev/null\necho "Error: 429 Too Many Requests: rate limit exceeded" >&2\nexit 1\n', { mode: 0o755 });
    h.writeConfig([
      'workflow: { max_attempts: 3, timeout_seconds: 60, retry_delay_seconds: 0 }',
      'router: { fallback_executor: scripted }',
      'agents:',
      '  limited:',
      '    kind: command',
      `    command: ${limited}`,
      '  scripted:',
      '    kind: command',
      `    command: ${agent}`,
      `    env: { PROMPTS: ${h.dir} }`,
      `tmux: { socket: ${h.tmuxSocket} }`,
      'node: { name: local, slots: 3 }',
      '',
    ].join('\n'));
    serve = await h.serve();
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  const settle = (id: number) => waitFor(async () => {
    const t = await h.json<TaskJson>(['task', 'get', String(id)]);
    return ['done', 'needs_review'].includes(t.status) ? t : undefined;
  }, { timeoutMs: 90_000, intervalMs: 300, what: `task ${id} to settle` });

  it("a retry's prompt carries the previous attempt's approach, learnings, files and diff", async () => {
    const added = await h.json<TaskJson>(['task', 'add', 'Write notes', '--agent', 'scripted', '--project', 'local/demo', '--body', 'MEMORY-TEST']);
    const t = await settle(added.id);
    expect(t).toMatchObject({ status: 'done', attempts: 2 });
    const second = readFileSync(join(h.dir, `task-${t.id}-attempt-2.md`), 'utf8');
    expect(second).toContain('Attempt 1 (scripted): answered in_progress. started the notes');
    expect(second).toContain('Approach: wrote the first line of notes.txt');
    expect(second).toContain('Learned: notes.txt still needs its second line');
    expect(second).toContain('Files changed: notes.txt');
    expect(second).toContain('## What the branch changed so far (diff after attempt 1)');
    expect(second).toMatch(/```diff\n[\s\S]*\+\+\+ b\/notes\.txt[\s\S]*\n\+first line\n/);
    expect(readFileSync(join(h.dir, `task-${t.id}-attempt-1.md`), 'utf8')).not.toContain('Earlier attempts');
    expect(await git(['--git-dir', repo.origin, 'show', `${t.branch}:notes.txt`])).toBe('first line\nsecond line\n');
  }, 120_000);

  it('a rate-limited agent\'s task is rerouted to router.fallback_executor', async () => {
    const added = await h.json<TaskJson>(['task', 'add', 'Limited', '--agent', 'limited', '--project', 'local/demo', '--body', 'REROUTE-TEST']);
    const t = await settle(added.id) as TaskJson & { agent: string; attempt_history: Array<{ agent: string; error_class: string; state: string }> };
    expect(t).toMatchObject({ status: 'done', attempts: 2, agent: 'scripted' });
    expect(t.attempt_history.map((a) => [a.agent, a.state, a.error_class])).toEqual([['limited', 'failed', 'RateLimit'], ['scripted', 'succeeded', '']]);
    expect(t.events.find((e) => e.event === 'retry_scheduled')?.detail).toMatch(/^RateLimit: exit code 1: Error: 429 Too Many Requests.*\(rerouted from limited to scripted\)$/);
    // orch metrics counts the failure by its class.
    const m = await h.json<{ errors_by_class: Record<string, number> }>(['metrics']);
    expect(m.errors_by_class.RateLimit).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('delegations become child tasks; the parent is blocked until all are done, then resumes on its branch', async () => {
    const added = await h.json<TaskJson>(['task', 'add', 'Big job', '--agent', 'scripted', '--project', 'local/demo', '--body', 'DELEGATE-TEST']);
    const parent = await waitFor(async () => {
      const t = await h.json<TaskJson>(['task', 'get', String(added.id)]);
      return t.children.length === 2 ? t : undefined;
    }, { timeoutMs: 60_000, what: 'the children to exist' });
    const children = await Promise.all(parent.children.map((c) => h.json<TaskJson>(['task', 'get', String(c)])));
    expect(children.map((c) => c.parent_id)).toEqual([added.id, added.id]);

    const done = await settle(added.id);
    expect(done).toMatchObject({ status: 'done', attempts: 2 });
    const finished = await Promise.all(parent.children.map((c) => h.json<TaskJson>(['task', 'get', String(c)])));
    expect(finished.map((c) => c.status)).toEqual(['done', 'done']);
    // The history: blocked on the children, resumed when the last was done, then finished.
    const trail = done.events.map((e) => e.event);
    expect(trail.slice(trail.indexOf('agent_blocked'))).toEqual(['agent_blocked', 'children_done', 'dispatched', 'started', 'completed']);
    expect(done.events.find((e) => e.event === 'agent_blocked')?.detail).toBe('split in two');
    expect(done.events.find((e) => e.event === 'children_done')?.detail).toBe(`delegated tasks done: ${parent.children.map((c) => `#${c}`).join(', ')}`);
    // The parent resumed on its own branch (the children worked on theirs).
    expect(readFileSync(join(h.dir, `task-${added.id}-attempt-2.md`), 'utf8')).toContain('Attempt 1 (scripted): answered done. split in two');
    for (const c of finished) expect(await git(['--git-dir', repo.origin, 'show', `${c.branch}:child-${c.id}.txt`])).toBe('child\n');
  }, 120_000);
});
