// `orch stream` as a person reads it: a JSON-event agent's lines go through its adapter's
// live-event parser (start, tool calls, text, result), not as raw JSON; --format raw keeps
// the bytes. `orch serve` on the embedded default with an agent of kind claude whose command
// prints Claude Code's stream-json events (what the real CLI prints, shortened).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

describe('orch stream --format events', () => {
  let h: OrchHome;

  beforeAll(async () => {
    h = new OrchHome('orch-e2e-stream-');
    const agent = join(h.dir, 'claude-like.sh');
    const events = [
      { type: 'system', subtype: 'init', session_id: 'sess-42', model: 'claude-sonnet-test' },
      { type: 'assistant', message: { content: [{ type: 'tool_use', name: 'Write', input: { file_path: 'hello.txt' } }] } },
      { type: 'user', message: { content: [{ type: 'tool_result', content: 'ok' }] } },
      { type: 'assistant', message: { content: [{ type: 'text', text: 'Wrote the greeting.' }] } },
      { type: 'result', subtype: 'success', is_error: false, result: '{"status":"done","summary":"greeting written"}', session_id: 'sess-42', usage: { input_tokens: 10, output_tokens: 5 }, total_cost_usd: 0.001 },
    ];
    writeFileSync(agent, ['#!/bin/bash', 'cat > /dev/null', 'echo hi > hello.txt', ...events.map((e) => `echo ${JSON.stringify(JSON.stringify(e)).replace(/\$/g, '\\$')}`)].join('\n') + '\n', { mode: 0o755 });
    h.writeConfig([
      'agents:', '  claudelike:', '    kind: claude', `    command: ${agent}`,
      'tmux:', `  socket: ${h.tmuxSocket}`, 'node:', '  name: local', '  slots: 1', '',
    ].join('\n'));
  }, 60_000);

  afterAll(async () => { await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS); });

  it('shows start, tool, text and result lines instead of JSON; raw keeps the bytes', async () => {
    const serve = await h.serve();
    try {
      const repo = await makeRepo(h.dir, 'streamed');
      expect((await h.run(['project', 'add', repo.work])).code).toBe(0);
      const t = await h.json<{ id: number }>(['task', 'add', 'Greet', '--agent', 'claudelike', '--project', repo.work]);
      await waitFor(async () => (await h.json<{ status: string }>(['task', 'get', String(t.id)])).status === 'done', { timeoutMs: 60_000, what: 'the task to finish' });
      const pretty = await h.run(['stream', String(t.id), '--format', 'events']);
      expect(pretty.code, pretty.stderr).toBe(0);
      const lines = pretty.stdout.trim().split('\n');
      expect(lines).toEqual([
        '● start session sess-42 model claude-sonnet-test',
        '▸ tool Write {"file_path":"hello.txt"}',
        '│ text Wrote the greeting.',
        '✓ result {"status":"done","summary":"greeting written"}',
      ]);
      const raw = await h.run(['stream', String(t.id), '--format', 'raw']);
      expect(raw.stdout).toContain('"type":"system"');
      expect(raw.stdout.split('\n').filter((l) => l.startsWith('{'))).toHaveLength(5);
      // Through a pipe (no --format), raw is the default: scripts get the agent's bytes.
      expect((await h.run(['stream', String(t.id)])).stdout).toBe(raw.stdout);
    } finally {
      await h.stop(serve);
    }
  }, 120_000);
});
