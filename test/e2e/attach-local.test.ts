// `orch task attach` on the node's own machine: `orch serve` on the embedded default runs the
// node in the same ORCH_HOME, so the CLI attaches tmux directly (no relay through the
// coordinator), and --via-coordinator still relays. Which way it went shows in the
// coordinator's log, which names every relayed attach.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, OrchHome, ROOT } from '../harness/orch.js';
import { capturePane, prefixKey, Terminal } from '../harness/terminal.js';
import { waitFor } from '../harness/wait.js';

interface TaskJson { id: number; status: string; attempt_history: Array<{ state: string; session: string }> }

describe('orch task attach on the machine that runs the agent', () => {
  let h: OrchHome;
  let serve: ChildProcess;
  const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

  beforeAll(async () => {
    h = new OrchHome('orch-attach-local-');
    h.writeConfig([
      'agents:',
      '  tty:',
      '    kind: command',
      `    command: ${python}`,
      `    args: [${JSON.stringify(join(ROOT, 'test', 'fixtures', 'attach-agent.py'))}]`,
      'tmux:',
      `  socket: ${h.tmuxSocket}`,
    ].join('\n') + '\n');
    serve = await h.serve();
    const repo = await makeRepo(h.dir);
    const add = await h.run(['project', 'add', `file://${repo.origin}`]);
    expect(add.code, add.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    for (const t of Terminal.open) t.p.kill();
    if (serve) await h.stop(serve);
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  const coordinatorLog = () => readFileSync(join(h.home, 'logs', 'coordinator.log'), 'utf8');

  it('attaches tmux directly, and relays only when asked to', async () => {
    const t = await h.json<TaskJson>(['task', 'add', 'Local', '--agent', 'tty']);
    const session = await waitFor(async () => (await h.json<TaskJson>(['task', 'get', String(t.id)])).attempt_history.find((a) => a.state === 'running' && a.session)?.session,
      { timeoutMs: 60_000, what: 'the task to run' });
    await waitFor(async () => (await capturePane(h.tmuxSocket, session)).includes('ATTACH-DEMO'), { timeoutMs: 20_000, what: 'the agent to draw' });

    const local = new Terminal(['task', 'attach', String(t.id)], h.env());
    await local.sees(`ATTACH-DEMO task ${t.id} ready`, 'the agent\'s screen');
    local.type('near\r');
    await local.sees('GOT <near>', 'the agent echoing a key');
    local.type(prefixKey(h.tmuxSocket) + 'd');
    expect(await local.ends()).toBe(0);
    expect(local.screen).toContain(`detached from task #${t.id}; the agent keeps running`);
    expect(coordinatorLog()).not.toContain('attach requested'); // no relay

    const relayed = new Terminal(['task', 'attach', String(t.id), '--via-coordinator'], h.env());
    await relayed.sees('GOT <near>', 'the agent\'s screen through the coordinator');
    relayed.type(prefixKey(h.tmuxSocket) + 'd');
    expect(await relayed.ends()).toBe(0);
    expect(coordinatorLog()).toContain('attach requested');

    execFileSync('tmux', ['-L', h.tmuxSocket, 'send-keys', '-t', `=${session}:`, 'quit', 'Enter']);
    await waitFor(async () => (await h.json<TaskJson>(['task', 'get', String(t.id)])).status === 'done', { timeoutMs: 60_000, what: 'the task to finish' });
  }, 180_000);
});
