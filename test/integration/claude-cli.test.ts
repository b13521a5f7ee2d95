// Runs the real Claude Code CLI (node_modules/.bin/claude) against the fake Anthropic API on
// loopback: it must write a file through its Write tool and finish with our final text.
// Everything the CLI could touch (HOME, CLAUDE_CONFIG_DIR, the repo) lives in a temp dir.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultFinalText, startFakeAnthropic, type FakeAnthropic } from '../fixtures/fake-anthropic.js';

const CLAUDE_BIN = fileURLToPath(new URL('../../node_modules/.bin/claude', import.meta.url));
const RUN_TIMEOUT_MS = 45_000;

interface ClaudeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function gitRepo(dir: string): void {
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=orch-test', '-c', 'user.email=orch-test@example.invalid', ...args], { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), '# scratch repo\n');
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
}

/**
 * A from-scratch env (nothing inherited but PATH): a developer's own ANTHROPIC_* / CLAUDE*
 * variables, or CLAUDECODE when the suite runs inside Claude Code, must not leak in.
 */
function offlineEnv(fake: FakeAnthropic, home: string, configDir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    CLAUDE_CONFIG_DIR: configDir,
    ANTHROPIC_BASE_URL: fake.url,
    ANTHROPIC_API_KEY: 'sk-test-fake',
    // Allows bypassPermissions when running as root.
    IS_SANDBOX: '1',
    DISABLE_AUTOUPDATER: '1',
    // The one that matters for offline runs: without it the CLI calls api.anthropic.com
    // (bootstrap, fast-mode status, MCP registry, metrics opt-out, event logging) and
    // makes an extra title-generation request.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    // Tripwire: any HTTPS the CLI still attempts arrives at the fake as a recorded CONNECT.
    HTTPS_PROXY: fake.url,
    https_proxy: fake.url,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
}

/** Run claude with the prompt on stdin; its whole process group is SIGKILLed on timeout or test failure. */
function runClaude(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; stdin: string }): Promise<ClaudeRun> {
  const started = Date.now();
  const child = spawn(CLAUDE_BIN, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const killGroup = () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  };
  cleanups.push(killGroup);
  const timer = setTimeout(killGroup, RUN_TIMEOUT_MS);

  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.stdin.end(opts.stdin);

  return new Promise((resolve, reject) => {
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started });
    });
  });
}

function jsonLines(text: string): any[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

/** Parse an SSE body into its events (type + data). */
function sseEvents(text: string): Array<{ event: string; data: any }> {
  return text.split('\n\n').filter((c) => c.trim() !== '').map((chunk) => {
    const event = /^event: (.+)$/m.exec(chunk)?.[1] ?? '';
    const data = JSON.parse(/^data: (.+)$/m.exec(chunk)?.[1] ?? 'null');
    return { event, data };
  });
}

describe('fake Anthropic API', () => {
  async function fake(opts: Parameters<typeof startFakeAnthropic>[0] = {}): Promise<FakeAnthropic> {
    const f = await startFakeAnthropic(opts);
    cleanups.push(() => f.close());
    return f;
  }
  const post = (url: string, body: unknown) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const postJson = async (url: string, body: unknown): Promise<any> => (await post(url, body)).json();
  const writeTool = { name: 'Write', input_schema: { type: 'object', properties: { file_path: { type: 'string' }, content: { type: 'string' } } } };

  it('answers unknown paths and malformed requests in the API error shape', async () => {
    const f = await fake();
    const missing = await fetch(`${f.url}/v1/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });

    const bad = await post(`${f.url}/v1/messages`, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'model: Field required' } });

    const count = await post(`${f.url}/v1/messages/count_tokens`, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(await count.json()).toEqual({ input_tokens: expect.any(Number) });
    expect(f.requests.map((r) => r.path)).toEqual(['/v1/nope', '/v1/messages', '/v1/messages/count_tokens']);
  });

  it('plans tool_use, then the final text, non-streaming', async () => {
    const f = await fake({ writeFile: { path: 'a.txt', content: 'A' }, finalText: 'all done' });
    const system = 'Env\n - Primary working directory: /tmp/somewhere\n';
    const first = await postJson(`${f.url}/v1/messages`, {
      model: 'claude-sonnet-5', max_tokens: 100, system, tools: [writeTool], messages: [{ role: 'user', content: 'go' }],
    });
    expect(first).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'tool_use' });
    const use = first.content.find((b: any) => b.type === 'tool_use');
    expect(use).toMatchObject({ name: 'Write', input: { file_path: '/tmp/somewhere/a.txt', content: 'A' } });

    const second = await postJson(`${f.url}/v1/messages`, {
      model: 'claude-sonnet-5', max_tokens: 100, system, tools: [writeTool],
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'ok' }] },
      ],
    });
    expect(second).toMatchObject({ stop_reason: 'end_turn', content: [{ type: 'text', text: 'all done' }] });
    expect(second.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number), cache_read_input_tokens: expect.any(Number) });
  });

  it('streams the SSE event sequence, delayed per event', async () => {
    const f = await fake({ writeFile: { path: '/abs/b.txt', content: 'B' }, delayMs: 20 });
    const started = Date.now();
    const res = await post(`${f.url}/v1/messages`, {
      model: 'claude-sonnet-5', max_tokens: 100, stream: true, tools: [writeTool], messages: [{ role: 'user', content: 'go' }],
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = sseEvents(await res.text());
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 * (events.length - 1));
    const types = events.map((e) => e.event);
    expect(types[0]).toBe('message_start');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(types).toContain('content_block_start');
    expect(types).toContain('content_block_stop');
    expect(events.every((e) => e.data?.type === e.event)).toBe(true);
    const json = events.filter((e) => e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json).join('');
    expect(JSON.parse(json)).toEqual({ file_path: '/abs/b.txt', content: 'B' });
    expect(events.at(-2)?.data).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: expect.any(Number) } });
  });

  it('gives side requests a short reply, conforming JSON when a schema is asked for', async () => {
    const f = await fake({ writeFile: { path: 'c.txt', content: 'C' } });
    const plain = await postJson(`${f.url}/v1/messages`, { model: 'claude-haiku-4-5', max_tokens: 1, messages: [{ role: 'user', content: 'quota' }] });
    expect(plain.content).toEqual([{ type: 'text', text: 'OK' }]);
    const titled = await postJson(`${f.url}/v1/messages`, {
      model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'title?' }],
      output_config: { format: { type: 'json_schema', schema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] } } },
    });
    expect(JSON.parse(titled.content[0].text)).toEqual({ title: expect.any(String) });
  });
});

describe('real Claude Code CLI against the fake API', () => {
  it('writes the file via the Write tool and ends with the final text', async () => {
    const root = tempDir('orch-claude-cli-');
    const [repo, home, configDir] = ['repo', 'home', 'claude-config'].map((d) => join(root, d));
    for (const d of [repo, home, configDir]) mkdirSync(d, { recursive: true });
    gitRepo(repo);
    const promptFile = join(root, 'append-system-prompt.md');
    writeFileSync(promptFile, 'ORCH-APPENDED-INSTRUCTIONS: report status as JSON.\n');

    const target = 'src/hello.txt';
    const content = 'hello from the fake API\n';
    const fake = await startFakeAnthropic({ writeFile: { path: target, content } });
    cleanups.push(() => fake.close());

    const run = await runClaude(
      ['-p', '--verbose', '--output-format', 'stream-json', '--model', 'sonnet',
        '--permission-mode', 'bypassPermissions', '--append-system-prompt-file', promptFile],
      { cwd: repo, env: offlineEnv(fake, home, configDir), stdin: 'Create src/hello.txt.' },
    );
    const context = `exit=${run.code} signal=${run.signal} after ${run.durationMs}ms\nstderr:\n${run.stderr}\nstdout:\n${run.stdout}`;

    expect(run.code, context).toBe(0);
    expect(existsSync(join(repo, target)), context).toBe(true);
    expect(readFileSync(join(repo, target), 'utf8')).toBe(content);

    const events = jsonLines(run.stdout);
    const result = events.at(-1);
    expect(result, context).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: defaultFinalText(target) });
    expect(result).toMatchObject({
      session_id: events[0].session_id,
      num_turns: 2,
      duration_ms: expect.any(Number),
      total_cost_usd: expect.any(Number),
      usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) },
      modelUsage: expect.any(Object),
    });
    expect(events[0]).toMatchObject({ type: 'system', subtype: 'init', cwd: repo, permissionMode: 'bypassPermissions' });
    const toolUse = events.flatMap((e) => (e.type === 'assistant' ? e.message.content : [])).find((b: any) => b.type === 'tool_use');
    expect(toolUse).toMatchObject({ name: 'Write', input: { file_path: join(repo, target), content } });

    // The appended system prompt reached the model, and nothing left loopback.
    const main = fake.requests.find((r) => r.path === '/v1/messages' && r.body?.tools?.some((t: any) => t.name === 'Write'));
    expect(JSON.stringify(main?.body.system)).toContain('ORCH-APPENDED-INSTRUCTIONS');
    expect(fake.requests.filter((r) => r.method === 'CONNECT').map((r) => r.path)).toEqual([]);
    // The CLI resolved the user's config to the temp dir, never the real ~/.claude.
    expect(existsSync(join(configDir, '.claude.json'))).toBe(true);
  }, 60_000);
});
