// `orch task attach ID [--read-only]`: a terminal on a running task's tmux session, from
// any machine. The local terminal goes raw; keys go up the coordinator's Attach stream to
// the node, the screen comes back, SIGWINCH becomes a resize. tmux's detach key (prefix d)
// ends the attachment and leaves the agent running. On the node's own machine (the attempt
// lives under this ORCH_HOME and its session is on our tmux socket) tmux attaches directly.
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { sep } from 'node:path';
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import { attachArgs } from '../../agent-node/attach.js';
import { AttachFrame, type AttachEnd, type Task } from '../../proto/gen/orch/v1/types.js';
import { loadGlobalConfig } from '../../runtime/config/index.js';
import { orchHome } from '../../runtime/paths.js';
import { CliError, type Api } from '../client.js';

function tmuxEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.TMUX; // attach even from inside another tmux: it is another server
  return env;
}

function hasSession(socket: string, session: string): Promise<boolean> {
  return new Promise((r) => execFile('tmux', ['-L', socket, 'has-session', '-t', `=${session}`], { env: tmuxEnv() }, (err) => r(!err)));
}

/** The running attempt's session when it is on this machine's orch (same ORCH_HOME, reachable socket). */
async function localSession(t: Task): Promise<{ socket: string; session: string } | undefined> {
  const a = t.attemptHistory.filter((x) => x.state === 'running').at(-1);
  if (!a?.session || !a.dir) return undefined;
  const home = orchHome();
  if (!a.dir.startsWith(home + sep) || !existsSync(a.dir)) return undefined;
  const socket = (await loadGlobalConfig(home).catch(() => undefined))?.config.tmux?.socket ?? 'orch';
  return (await hasSession(socket, a.session)) ? { socket, session: a.session } : undefined;
}

function farewell(taskId: number, end: AttachEnd | undefined): string {
  return end?.message || `detached from task #${taskId}`;
}

/** Direct `tmux attach` on this machine; resolves with what to tell the user. */
async function attachLocally(taskId: number, l: { socket: string; session: string }, readOnly: boolean): Promise<string> {
  const code = await new Promise<number>((resolve, reject) => {
    const p = spawn('tmux', attachArgs(l.socket, l.session, readOnly), { stdio: 'inherit', env: tmuxEnv() });
    p.on('error', (err) => reject(new CliError(`cannot run tmux: ${err.message}`)));
    p.on('exit', (c) => resolve(c ?? 1));
  });
  if (await hasSession(l.socket, l.session)) return `detached from task #${taskId}; the agent keeps running`;
  return code === 0 ? `the session of task #${taskId} ended` : `tmux attach failed (exit ${code})`;
}

/** The relayed terminal: raw mode, keys up, screen down, resizes, until the node says it ended. */
function attachRemotely(api: Api, taskId: number, readOnly: boolean): Promise<string> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const call: ClientDuplexStream<AttachFrame, AttachFrame> = api.client.attach(api.metadata);
  const size = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  call.write(AttachFrame.fromPartial({ open: { taskId, readOnly, size: size(), term: process.env.TERM || 'xterm-256color' } }));
  let end: AttachEnd | undefined;
  const onKeys = (b: Buffer) => { call.write(AttachFrame.fromPartial({ input: b })); };
  const onResize = () => { call.write(AttachFrame.fromPartial({ resize: size() })); };
  const restore = () => {
    stdin.off('data', onKeys);
    stdout.off('resize', onResize);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
  };
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onKeys);
  stdin.resume();
  // Node turns SIGWINCH into 'resize' once it has read the new size.
  stdout.on('resize', onResize);
  return new Promise<string>((resolve, reject) => {
    call.on('data', (f: AttachFrame) => {
      if (f.output.length) stdout.write(f.output);
      if (f.end) end = f.end;
    });
    call.on('end', () => {
      restore();
      if (end?.reason === 'error') reject(new CliError(end.message));
      else resolve(farewell(taskId, end));
    });
    call.on('error', (err: ServiceError) => {
      restore();
      reject(api.explain(err));
    });
  });
}

export async function attach(api: Api, taskId: number, o: { readOnly: boolean; viaCoordinator: boolean }): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new CliError('orch task attach needs a terminal (stdin and stdout must be a TTY); for output only use `orch task logs ID --follow`');
  // (Asked even when relaying: it also settles on the coordinator that leads, when standbys are listed.)
  const task = await api.call<'getTask', object, Task>('getTask', { id: taskId });
  const local = o.viaCoordinator ? undefined : await localSession(task);
  const said = local ? await attachLocally(taskId, local, o.readOnly) : await attachRemotely(api, taskId, o.readOnly);
  // On a fresh line: the terminal may have been left mid-row by the session's screen.
  process.stderr.write(`\r\n[orch] ${said}\n`);
}
