// `orch task attach` end to end: a coordinator and an `orch node start` in separate processes
// (real nats-server, PostgreSQL, tmux), and the CLI driven through a real pseudo-terminal
// (node-pty) as a person at a terminal drives it. The agent is a small interactive program
// on its tmux pane (test/fixtures/attach-agent.py): it draws a line and echoes each line typed
// into it with its terminal size at that moment.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../harness/fleet.js';
import { natsServerAvailable } from '../harness/nats-server.js';
import { makeRepo, ORCH_BIN, ROOT } from '../harness/orch.js';
import { capturePane, prefixKey, Terminal } from '../harness/terminal.js';
import { waitFor } from '../harness/wait.js';

interface TaskJson { id: number; status: string; node: string; attempt_history: Array<{ number: number; state: string; session: string; dir: string }> }

const available = natsServerAvailable();
if (!available) console.warn('\n*** SKIPPING attach tests: nats-server is not installed (apt-get install nats-server) ***\n');

describe.skipIf(!available)('orch task attach: a terminal on an agent running on another node process', () => {
  let fleet: Fleet;
  const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  const agent = join(ROOT, 'test', 'fixtures', 'attach-agent.py');

  beforeAll(async () => {
    // A headless agent too: it only prints to its stdout (as Claude Code, Codex and OpenCode run under orch).
    const printer = join(mkdtempSync(join(tmpdir(), 'orch-attach-printer-')), 'printer.sh');
    writeFileSync(printer, '#!/bin/bash\nfor i in $(seq 1 600); do echo "HEADLESS line $i"; sleep 0.2; done\n', { mode: 0o755 });
    fleet = new Fleet({ nodes: 1, slots: 2, agentsYaml: `agents:\n  tty:\n    kind: command\n    command: ${python}\n    args: [${JSON.stringify(agent)}]\n  printer:\n    kind: command\n    command: ${printer}\n` });
    await fleet.start();
    const repo = await makeRepo(mkdtempSync(join(tmpdir(), 'orch-attach-repo-')));
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    expect(add.code, add.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    for (const t of Terminal.open) t.p.kill(); // a failed test's CLI, by its own pid
    await fleet?.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  const env = () => ({ ...fleet.coordinator.env(), ...fleet.cliEnv() });
  const task = (id: number) => fleet.coordinator.json<TaskJson>(['task', 'get', String(id)], { env: fleet.cliEnv() });

  /** A task of the interactive agent, running, with its tmux session on the node. */
  async function runningTask(title: string): Promise<{ id: number; session: string }> {
    const t = await fleet.coordinator.json<TaskJson>(['task', 'add', title, '--agent', 'tty'], { env: fleet.cliEnv() });
    const a = await waitFor(async () => {
      const x = await task(t.id);
      const run = x.attempt_history.find((h) => h.state === 'running');
      return x.status === 'in_progress' && run?.session ? run : undefined;
    }, { timeoutMs: 60_000, what: `task ${t.id} to run` });
    const node = fleet.nodes[0];
    // The agent has drawn its first line on its pane.
    await waitFor(async () => (await capturePane(node.home.tmuxSocket, a.session)).includes('ATTACH-DEMO'), { timeoutMs: 20_000, what: 'the agent to draw its screen' });
    return { id: t.id, session: a.session };
  }

  it('shows the agent\'s screen, types into it, resizes it, and detaches with the tmux key leaving the agent running', async () => {
    const { id, session } = await runningTask('Interactive');
    const node = fleet.nodes[0];
    // The CLI runs with the coordinator's ORCH_HOME: the session is not local, so it goes through the coordinator.
    const term = new Terminal(['task', 'attach', String(id)], env(), 100, 30);
    await term.sees(`ATTACH-DEMO task ${id} ready`, 'the agent\'s screen');

    let mark = term.screen.length;
    term.type('hello\r');
    const got = await term.sees(/GOT <hello> size (\d+)x(\d+)/, 'the typed line echoed by the agent', mark);
    const [, cols, rows] = /GOT <hello> size (\d+)x(\d+)/.exec(got)!;
    expect(Number(cols)).toBe(100);
    expect(Number(rows)).toBeGreaterThanOrEqual(29); // 30, less tmux's status line when it shows one
    expect(Number(rows)).toBeLessThanOrEqual(30);

    // Keystroke to echo through CLI -> coordinator -> node -> tmux -> agent and back.
    const trips: number[] = [];
    for (let i = 0; i < 20; i++) trips.push(await term.roundTrip(`k${i}\r`, `GOT <k${i}>`));
    trips.sort((a, b) => a - b);
    console.log(`attach round trip (key to echo), 20 lines: median ${trips[10].toFixed(1)} ms, max ${trips[19].toFixed(1)} ms`);

    mark = term.screen.length;
    term.p.resize(132, 40); // the person's window grew: SIGWINCH in the CLI, a resize frame to the node
    await term.sees(/RESIZED 132x(39|40)/, 'the agent told of its new size', mark);
    mark = term.screen.length;
    term.type('again\r');
    await term.sees(/GOT <again> size 132x(39|40)/, 'the agent seeing the new size on a key', mark);

    term.type(prefixKey(node.home.tmuxSocket) + 'd');
    expect(await term.ends()).toBe(0);
    expect(term.screen).toContain(`detached from task #${id}; the agent keeps running`);

    // The agent runs on: still in progress, its session there, and it still takes keys.
    expect((await task(id)).status).toBe('in_progress');
    execFileSync('tmux', ['-L', node.home.tmuxSocket, 'send-keys', '-t', `=${session}:`, 'after', 'Enter']);
    await waitFor(async () => (await capturePane(node.home.tmuxSocket, session)).includes('GOT <after>'), { timeoutMs: 20_000, what: 'the agent to take a key after the detach' });
    // The relay went through the node's own process (not a tmux reachable from here).
    expect(node.home.logOf('node')).toMatch(/terminal attached/);

    execFileSync('tmux', ['-L', node.home.tmuxSocket, 'send-keys', '-t', `=${session}:`, 'quit', 'Enter']);
    await waitFor(async () => (await task(id)).status === 'done', { timeoutMs: 60_000, what: 'the task to finish after quit' });
  }, 180_000);

  it('--read-only shows the screen but the agent gets no key; the detach key still works', { timeout: 120_000 }, async () => {
    const { id, session } = await runningTask('Watched');
    const node = fleet.nodes[0];
    const term = new Terminal(['task', 'attach', String(id), '--read-only'], env());
    await term.sees(`ATTACH-DEMO task ${id} ready`, 'the agent\'s screen');
    await term.typeAtHumanPace('ignored\r');
    term.type(prefixKey(node.home.tmuxSocket) + 'd');
    expect(await term.ends()).toBe(0);
    // Keys reach the agent in order: one sent after the detach arrives, the read-only one never did.
    execFileSync('tmux', ['-L', node.home.tmuxSocket, 'send-keys', '-t', `=${session}:`, 'probe', 'Enter']);
    const pane = await waitFor(async () => { const p = await capturePane(node.home.tmuxSocket, session); return p.includes('GOT <probe>') ? p : undefined; },
      { timeoutMs: 20_000, what: 'the probe key to reach the agent' });
    expect(pane).not.toContain('ignored');
    execFileSync('tmux', ['-L', node.home.tmuxSocket, 'send-keys', '-t', `=${session}:`, 'quit', 'Enter']);
    await waitFor(async () => (await task(id)).status === 'done', { timeoutMs: 60_000, what: 'the task to finish' });
  });

  it('a headless agent\'s output shows on its pane: attach sees it as it comes', async () => {
    const t = await fleet.coordinator.json<TaskJson>(['task', 'add', 'Headless', '--agent', 'printer'], { env: fleet.cliEnv() });
    await waitFor(async () => (await task(t.id)).attempt_history.some((h) => h.state === 'running' && h.session), { timeoutMs: 60_000, what: 'the headless task to run' });
    const term = new Terminal(['task', 'attach', String(t.id)], env());
    await term.sees(/HEADLESS line \d+/, 'the agent\'s output on the pane');
    const mark = term.screen.length;
    const later = await term.sees(/HEADLESS line (\d+)/, 'more output as it comes', mark);
    expect(Number(/HEADLESS line (\d+)/.exec(later)![1])).toBeGreaterThan(1);
    term.type(prefixKey(fleet.nodes[0].home.tmuxSocket) + 'd');
    expect(await term.ends()).toBe(0);
    expect((await task(t.id)).status).toBe('in_progress');
    expect((await fleet.coordinator.run(['task', 'kill', String(t.id)], { env: fleet.cliEnv() })).code).toBe(0);
  }, 120_000);

  it('says clearly when the task is not running, and exits non-zero', async () => {
    const { id, session } = await runningTask('Finished');
    execFileSync('tmux', ['-L', fleet.nodes[0].home.tmuxSocket, 'send-keys', '-t', `=${session}:`, 'quit', 'Enter']);
    await waitFor(async () => (await task(id)).status === 'done', { timeoutMs: 60_000, what: 'the task to finish' });
    const done = { id };
    const term = new Terminal(['task', 'attach', String(done.id)], env());
    expect(await term.ends()).toBe(1);
    expect(term.screen).toContain(`task ${done.id} is not running (done`);
    expect(term.screen).toContain(`orch task logs ${done.id}`);
    const missing = new Terminal(['task', 'attach', '99999'], env());
    expect(await missing.ends()).toBe(1);
    expect(missing.screen).toContain('task 99999 not found');
  }, 60_000);

  describe('watching the fleet: task live, task logs, task history, orch log', () => {
    const cli = (args: string[]) => fleet.coordinator.run(args, { env: fleet.cliEnv() });
    const quit = (session: string) => execFileSync('tmux', ['-L', fleet.nodes[0].home.tmuxSocket, 'send-keys', '-t', `=${session}:`, 'quit', 'Enter']);

    it('task live lists the running session with its node, agent and last output; task logs --follow streams it to its end', async () => {
      const { id, session } = await runningTask('Live one');
      const live = await waitFor(async () => {
        const all = await fleet.coordinator.json<Array<{ task_id: number; node: string; agent: string; session: string; attempt: number; started_at: string; last_output_at: string }>>(['task', 'live'], { env: fleet.cliEnv() });
        const mine = all.find((x) => x.task_id === id);
        return mine?.last_output_at ? mine : undefined; // its first line reached the coordinator
      }, { timeoutMs: 20_000, what: 'the session in task live with output' });
      expect(live).toMatchObject({ node: 'node1', agent: 'tty', session, attempt: 1 });
      expect(Date.parse(live.started_at)).toBeLessThanOrEqual(Date.now());
      const table = await cli(['task', 'live']);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(new RegExp(`#${id}\\s+1\\s+node1\\s+tty\\s+`));
      expect(table.stdout).toMatch(/RUNTIME\s+LAST OUTPUT/);

      // Follow the output from another process while the agent works, until the attempt ends.
      const follower = new Terminal(['task', 'logs', String(id), '--follow'], env());
      await follower.sees(`attach agent started for task ${id}`, 'the stored beginning of the output');
      execFileSync('tmux', ['-L', fleet.nodes[0].home.tmuxSocket, 'send-keys', '-t', `=${session}:`, 'ping', 'Enter']);
      await follower.sees('got ping', 'new output while following');
      quit(session);
      expect(await follower.ends(60_000)).toBe(0); // the attempt ended: so did the follow
      expect(follower.screen).toContain('got quit');
      await waitFor(async () => (await task(id)).status === 'done', { timeoutMs: 60_000, what: 'the task to finish' });
      const after = await fleet.coordinator.json<Array<{ task_id: number }>>(['task', 'live'], { env: fleet.cliEnv() });
      expect(after.map((x) => x.task_id)).not.toContain(id);
    }, 120_000);

    it('task logs prints any attempt\'s stored output, byte for byte the node\'s output.log; a missing attempt is named', async () => {
      const { id, session } = await runningTask('Logged');
      quit(session);
      const done = await waitFor(async () => { const t = await task(id); return t.status === 'done' ? t : undefined; }, { timeoutMs: 60_000, what: 'the task to finish' });
      const r = await cli(['task', 'logs', String(id), '--attempt', '1']);
      expect(r.code, r.stderr).toBe(0);
      const nodeCopy = readFileSync(join(done.attempt_history[0].dir, 'output.log'), 'utf8');
      expect(nodeCopy).toContain(`attach agent started for task ${id}`);
      expect(r.stdout).toBe(nodeCopy);
      const j = await fleet.coordinator.json<{ task_id: number; attempt: number; output: string }>(['task', 'logs', String(id)], { env: fleet.cliEnv() });
      expect(j).toEqual({ task_id: id, attempt: 1, output: nodeCopy });
      const bad = await cli(['task', 'logs', String(id), '--attempt', '7']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`task ${id} has no attempt 7 (it has attempts 1 to 1)`);
      const none = await cli(['task', 'logs', '99999']);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('task 99999 not found');
    }, 120_000);

    it('task history shows the task_events timeline', async () => {
      const { id, session } = await runningTask('Historic');
      quit(session);
      await waitFor(async () => (await task(id)).status === 'done', { timeoutMs: 60_000, what: 'the task to finish' });
      const events = await fleet.coordinator.json<Array<{ at: string; from_status: string; to_status: string; event: string }>>(['task', 'history', String(id)], { env: fleet.cliEnv() });
      const path = events.map((e) => e.to_status).filter((s, i, all) => i === 0 || s !== all[i - 1]);
      expect(path).toEqual(['new', 'routed', 'in_progress', 'done']);
      expect(events.map((e) => Date.parse(e.at))).toEqual([...events.map((e) => Date.parse(e.at))].sort((a, b) => a - b));
      const r = await cli(['task', 'history', String(id)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`#${id} Historic (done)`);
      expect(r.stdout).toMatch(/in_progress\s+done\s+/);
    }, 120_000);

    it('orch log prints the coordinator\'s last lines, and --follow shows new ones as they happen', async () => {
      const file = join(fleet.coordinator.home, 'logs', 'coordinator.log');
      expect(readFileSync(file, 'utf8')).toContain('coordinator listening');
      const last = await cli(['log', '3']);
      expect(last.code, last.stderr).toBe(0);
      expect(last.stdout.trimEnd().split('\n')).toHaveLength(3);
      expect(last.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR) \S+ /m);
      // The coordinator may log while the CLI reads and before this test reads the file (the wrap-up of
      // the last task, a node's report): what the CLI printed is every line written before the call, and
      // a prefix of the file after it.
      const fileLines = () => readFileSync(file, 'utf8').split('\n').filter(Boolean);
      const before = fileLines().length;
      const all = await fleet.coordinator.json<Array<{ msg: string; level: string }>>(['log', '100000'], { env: fleet.cliEnv() });
      const after = fileLines();
      expect(all.some((l) => l.msg === 'coordinator listening')).toBe(true);
      expect(all.length).toBeGreaterThanOrEqual(before);
      const parsed = (l: string) => { try { return JSON.parse(l) as unknown; } catch { return { line: l }; } };
      expect(all).toEqual(after.slice(0, all.length).map(parsed));

      const follower = new Terminal(['log', '0', '--follow'], { ...env(), NO_COLOR: '1' });
      await follower.sees(/INFO|DEBUG/, 'the last lines');
      const ok = await fleet.coordinator.json<{ id: number }>(['task', 'add', 'Followed in the log', '--agent', 'tty'], { env: fleet.cliEnv() });
      await follower.sees(new RegExp(`task changed task=${ok.id} status=`), 'the new task in the followed log');
      follower.p.kill('SIGINT');
      await follower.ends();
      const session = (await waitFor(async () => (await task(ok.id)).attempt_history.find((h) => h.state === 'running' && h.session), { timeoutMs: 60_000, what: 'the task to run' })).session;
      await waitFor(async () => (await capturePane(fleet.nodes[0].home.tmuxSocket, session)).includes('ATTACH-DEMO'), { timeoutMs: 20_000, what: 'the agent to start' });
      quit(session);
      await waitFor(async () => (await task(ok.id)).status === 'done', { timeoutMs: 60_000, what: 'the task to finish' });
    }, 120_000);
  });
});

