// `orch chat` end to end: `orch serve` with a running task and a failed one; the chat agent is
// the real Claude Code CLI (run once on the node through the ask facility) against the fake
// Anthropic API, whose answer is built from the prompt it receives: so the reply can only name
// the running task if the prompt carried the real fleet state. A chat request to retry the
// failed task retries it through the Coordinator API (with --yes; shown and not run without).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fixtures/fake-anthropic.js';
import { claudeAgentYaml, type CliResult, makeRepo, ORCH_BIN, OrchHome } from '../harness/orch.js';
import { StopWaiting, waitFor } from '../harness/wait.js';

interface TaskJson { id: number; title: string; status: string; attempts: number; node: string }
interface MessageJson { id: number; session: string; role: string; text: string; actions: Array<{ op: string; task_id: number; outcome: string }> }

/** The text of the chat prompt in a request the fake received (the user turn that holds the fleet state). */
function chatPromptOf(body: any): string | undefined {
  for (const m of [...(body?.messages ?? [])].reverse()) {
    if (m.role !== 'user') continue;
    const texts = typeof m.content === 'string' ? [m.content] : (m.content as Array<{ type: string; text?: string }>).filter((b) => b.type === 'text').map((b) => b.text ?? '');
    const hit = texts.find((t) => t.includes('# Fleet state at '));
    if (hit) return hit;
  }
  return undefined;
}

/** The fake chat model: reads the operator's words and the fleet state from the prompt and answers in the JSON orch asks for. */
function fakeChatAnswer(body: any): string {
  const prompt = chatPromptOf(body);
  if (!prompt) return JSON.stringify({ status: 'done', summary: 'not a chat request' });
  const operator = /## Operator\n([\s\S]*)$/.exec(prompt)![1].trim();
  if (/plain/.test(operator)) return 'Just plain words, no JSON here.';
  const retry = /retry task #?(\d+)/.exec(operator);
  if (retry) return JSON.stringify({ reply: `Retrying task #${retry[1]}.`, actions: [{ op: 'retry', task_id: Number(retry[1]), why: 'the operator asked' }] });
  if (/what is running/.test(operator)) {
    const running = prompt.split('\n').filter((l) => / in_progress /.test(l)).map((l) => {
      const m = /^#(\d+) in_progress agent=(\S+) node=(\S+) .*"(.*)"/.exec(l)!;
      return `#${m[1]} "${m[4]}" with ${m[2]} on ${m[3]}`;
    });
    return JSON.stringify({ reply: running.length ? `Running now: ${running.join('; ')}.` : 'Nothing is running.', actions: [] });
  }
  return JSON.stringify({ reply: 'I can answer about tasks, nodes and failures.', actions: [] });
}

describe('orch chat', () => {
  let h: OrchHome;
  let fake: FakeAnthropic;
  let repo: { work: string; origin: string };
  let gate: string;
  let serve: Awaited<ReturnType<OrchHome['serve']>> | undefined;

  const task = (id: number) => h.json<TaskJson>(['task', 'get', String(id)]);
  const chatRequests = () => fake.requests.filter((r) => chatPromptOf(r.body));

  beforeAll(async () => {
    h = new OrchHome('orch-chat-');
    fake = await startFakeAnthropic({ finalText: fakeChatAnswer });
    repo = await makeRepo(h.dir);
    gate = join(h.dir, 'gate');
    const slow = join(h.dir, 'slow-agent.sh');
    writeFileSync(slow, ['#!/bin/bash', `while [ ! -f ${JSON.stringify(gate)} ]; do sleep 0.1; done`, 'echo slow > slow.txt',
      `echo '{"status":"done","summary":"slow agent finished","files_changed":["slow.txt"]}'`].join('\n') + '\n', { mode: 0o755 });
    // Fails its first run, succeeds after: a retry is what makes the task done.
    const flaky = join(h.dir, 'flaky-agent.sh');
    const marker = join(h.dir, 'flaky-ran-once');
    writeFileSync(flaky, ['#!/bin/bash', `if [ ! -f ${JSON.stringify(marker)} ]; then touch ${JSON.stringify(marker)}; echo "Error: the build broke" >&2; exit 1; fi`,
      'echo ok > flaky.txt', `echo '{"status":"done","summary":"flaky agent finished","files_changed":["flaky.txt"]}'`].join('\n') + '\n', { mode: 0o755 });
    h.writeConfig([
      'workflow:',
      '  max_attempts: 1',
      'chat:',
      '  agent: claude',
      '  model: sonnet',
      'agents:',
      ...claudeAgentYaml(fake.url, join(h.dir, 'claude-config')),
      '  slow:',
      '    kind: command',
      `    command: ${slow}`,
      '  flaky:',
      '    kind: command',
      `    command: ${flaky}`,
      'tmux:',
      `  socket: ${h.tmuxSocket}`,
      'node:',
      '  name: local',
      '',
    ].join('\n'));
    serve = await h.serve();
    expect((await h.run(['project', 'add', repo.work])).code).toBe(0);
    await h.run(['task', 'add', 'Long migration', '--agent', 'slow'], { cwd: repo.work });
    await h.run(['task', 'add', 'Flaky build', '--agent', 'flaky'], { cwd: repo.work });
    await waitFor(async () => (await task(1)).status === 'in_progress', { timeoutMs: 60_000, what: 'task 1 to run' });
    await waitFor(async () => ['needs_review', 'blocked'].includes((await task(2)).status), { timeoutMs: 60_000, what: 'task 2 to fail' });
  }, 180_000);

  afterAll(async () => {
    writeFileSync(gate, '');
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await fake?.close();
  });

  it('"what is running?" is answered from the real fleet state: the prompt carried the running task, the reply names it', async () => {
    const r = await h.run(['chat', 'what is running?'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr + h.logOf('serve').slice(-3000)).toBe(0);
    expect(r.stdout).toMatch(/^Running now: #1 "Long migration" with slow on local\.$/m);
    expect(r.stdout).toMatch(/\(claude\/sonnet on local, \d+\.\d s\)/);

    const prompts = chatRequests().map((q) => chatPromptOf(q.body)!);
    expect(prompts.length).toBeGreaterThanOrEqual(1);
    const p = prompts.at(-1)!;
    expect(p).toMatch(/^#1 in_progress agent=slow node=local attempts=1 project=local\/demo "Long migration"$/m);
    expect(p).toMatch(/^## Failed attempts in the last 24 h \(1\)\n#2 attempt 1 on local \(flaky\)/m);
    expect(p).toMatch(/^local up slots=\d+ running=1 agents=.*slow/m);
    expect(p).toMatch(/## Operator\nwhat is running\?\n$/);
    // The system prompt went along, asking for the JSON answer.
    expect(JSON.stringify(chatRequests().at(-1)!.body)).toContain('Answer with exactly one JSON object');
  }, 150_000);

  it('a retry the assistant proposes is shown and not run without --yes (no terminal), and run with --yes: the task retries and finishes', async () => {
    const shown = await h.run(['chat', 'please retry task #2'], { timeoutMs: 120_000 });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Retrying task #2.');
    expect(shown.stdout).toMatch(/proposed action:\n {2}1\. retry task #2 — the operator asked/);
    expect(shown.stdout).toContain('retry task #2: not run (pass --yes to run it, or confirm it at a terminal)');
    const still = await task(2);
    expect(still).toMatchObject({ status: expect.stringMatching(/needs_review|blocked/), attempts: 1 });

    const ran = await h.run(['chat', '--session', 'ops', 'retry task 2', '--yes'], { timeoutMs: 120_000 });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/proposed action:\n {2}1\. retry task #2/);
    expect(ran.stdout).toMatch(/task #2 reset \((new|routed|in_progress)\)/);
    const done = await waitFor(async () => {
      const t = await task(2);
      if (t.attempts >= 2 && ['needs_review', 'blocked'].includes(t.status)) throw new StopWaiting(`task 2 failed again: ${t.status}`);
      return t.status === 'done' ? t : undefined;
    }, { timeoutMs: 60_000, what: 'task 2 to finish after the retry' });
    expect(done.attempts).toBe(2);
  }, 200_000);

  it('history keeps both sessions, the actions and their outcomes; --search and --session narrow it', async () => {
    const all = await h.json<MessageJson[]>(['chat', 'history']);
    expect(all.filter((m) => m.role === 'user').map((m) => `${m.session}: ${m.text}`)).toEqual([
      'default: what is running?', 'default: please retry task #2', 'ops: retry task 2']);
    const outcomes = all.filter((m) => m.role === 'actions').map((m) => `${m.session}: ${m.actions[0].op} #${m.actions[0].task_id} ${m.actions[0].outcome}`);
    expect(outcomes).toEqual(['default: retry #2 not run', expect.stringMatching(/^ops: retry #2 done: (new|routed|in_progress)$/)]);

    const ops = await h.json<MessageJson[]>(['chat', 'history', '--session', 'ops']);
    expect(new Set(ops.map((m) => m.session))).toEqual(new Set(['ops']));
    const found = await h.json<MessageJson[]>(['chat', 'history', '--search', 'RUNNING']);
    expect(found.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(found[1].text).toContain('Long migration');

    const text = await h.run(['chat', 'history', '--session', 'ops']);
    expect(text.stdout).toMatch(/\[ops\] you: retry task 2/);
    expect(text.stdout).toMatch(/\[ops\] actions: retry task #2 \[done: /);
  });

  it('on a terminal each proposed action waits for y/N; "n" leaves the task alone and is recorded as declined', async () => {
    const before = await task(2);
    const cmd = [process.execPath, ORCH_BIN, 'chat', 'retry task 2'].map((a) => `'${a}'`).join(' ');
    const p = spawn('script', ['-qfec', cmd, '/dev/null'], { env: h.env({ TERM: 'dumb' }), cwd: h.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += String(d); });
    await waitFor(() => {
      if (p.exitCode !== null) throw new Error(`orch chat exited ${p.exitCode}: ${out}`);
      return out.includes('run "retry task #2"? [y/N]');
    }, { timeoutMs: 120_000, what: 'the y/N question' });
    p.stdin.write('n\r');
    expect(await new Promise((r) => p.once('exit', r))).toBe(0);
    expect(out).toContain('retry task #2: declined');
    expect(await task(2)).toMatchObject({ status: before.status, attempts: before.attempts });
    const last = (await h.json<MessageJson[]>(['chat', 'history', '--session', 'default'])).at(-1)!;
    expect(last.actions.map((a) => `${a.op} #${a.task_id} ${a.outcome}`)).toEqual(['retry #2 declined']);
  }, 150_000);

  it('an answer that is not the JSON asked for is shown as plain text and logged', async () => {
    const r = await h.run(['chat', 'answer in plain words'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Just plain words, no JSON here\.$/m);
    expect(r.stdout).toContain('the answer was not the JSON asked for');
    await waitFor(() => h.logOf('serve').includes('chat answer is not the JSON asked for'), { what: 'the malformed answer in the log' });
  }, 150_000);

  it('the REPL: /model shows and switches the agent and model (the next request uses it), messages are answered', async () => {
    const p = spawn(process.execPath, [ORCH_BIN, 'chat', '--session', 'repl'], { env: h.env(), cwd: h.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += String(d); });
    p.stderr.on('data', (d) => { out += String(d); });
    const before = chatRequests().length;
    p.stdin.write('/model\n/model claude:haiku\n/model\nwhat is running?\n/nonsense\n/quit\n');
    const code = await new Promise<number | null>((r) => p.once('exit', r));
    const res: CliResult = { code: code ?? 1, stdout: out, stderr: '' };
    expect(res.code, out).toBe(0);
    expect(out).toContain('claude:sonnet (session repl, from config)');
    expect(out).toContain('now claude:haiku (session repl)');
    expect(out).toContain('claude:haiku (session repl, from session)');
    expect(out).toMatch(/Running now: #1 "Long migration"/);
    expect(out).toContain('unknown command /nonsense: /help lists them');
    const asked = chatRequests().slice(before).map((q) => String(q.body.model));
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked.every((m) => /haiku/.test(m))).toBe(true);
    // A token pasted into the chat reaches neither the store nor the model.
    const leaky = await h.run(['chat', '--session', 'repl', 'is ghp_abcdefghijklmnopqrstuvwxyz0123456789 a valid token?'], { timeoutMs: 120_000 });
    expect(leaky.code, leaky.stderr).toBe(0);
    expect(JSON.stringify(fake.requests)).not.toContain('ghp_abcdefghijklmnopqrstuvwxyz0123456789');
    const stored = await h.json<MessageJson[]>(['chat', 'history', '--session', 'repl', '--search', 'valid token']);
    expect(stored[0].text).toBe('is [REDACTED] a valid token?');
    // A bad session name is refused with the reason.
    const bad = await h.run(['chat', '--session', 'no spaces please', 'hi']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/session name "no spaces please" must be/);
  }, 150_000);
});
