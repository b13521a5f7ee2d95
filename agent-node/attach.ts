// The node's side of `orch task attach`. Asked over its control subject, the node dials the
// coordinator back (NodeGateway.AttachSession: nodes only make outgoing connections) and runs
// `tmux attach` on orch's socket inside a pty (node-pty): the screen goes up, keys and resizes
// come down. The tmux client ending (the detach key, or the user leaving) leaves the agent running.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { AttachFrame } from '../proto/gen/orch/v1/types.js';
import { logger } from '../runtime/log.js';
import type { Tmux } from './tmux.js';

const log = logger('attach');

export interface AttachRequest {
  relay: string;
  /** The attempt's fencing token: the node attaches only to that attempt's session. */
  token: string;
  taskId: number;
  readOnly: boolean;
  cols: number;
  rows: number;
  term: string;
}

const clampSize = (n: unknown, dflt: number) => (typeof n === 'number' && Number.isInteger(n) && n > 0 ? Math.min(n, 1000) : dflt);

/** The attach fields of a control request, or why it is refused. */
export function parseAttachRequest(x: Record<string, unknown>): AttachRequest | string {
  if (typeof x.relay !== 'string' || !/^[A-Za-z0-9-]{8,64}$/.test(x.relay)) return 'attach request without a valid relay id';
  if (typeof x.token !== 'string' || !x.token) return 'attach request without an attempt token';
  const term = typeof x.term === 'string' && /^[A-Za-z0-9._+-]{1,64}$/.test(x.term) ? x.term : 'xterm-256color';
  return {
    relay: x.relay, token: x.token, taskId: typeof x.taskId === 'number' ? x.taskId : 0, readOnly: x.readOnly === true,
    cols: clampSize(x.cols, 80), rows: clampSize(x.rows, 24), term,
  };
}

/** `tmux attach` for a session on orch's socket, read-only with -r (only the detach key works then). */
export function attachArgs(socket: string, session: string, readOnly: boolean): string[] {
  return ['-L', socket, 'attach-session', ...(readOnly ? ['-r'] : []), '-t', `=${session}`];
}

type PtyModule = typeof import('node-pty');
let pty: Promise<PtyModule> | undefined;

/** node-pty is a native module: loaded on the first attach, so a node without it still runs agents. */
export function loadPty(): Promise<PtyModule> {
  pty ??= import('node-pty').then((m) => ((m as unknown as { default?: PtyModule }).default ?? m) as PtyModule).catch((err: Error) => {
    pty = undefined;
    throw new Error(`node-pty is not usable on this node (${err.message}): reinstall orch where node-gyp can build it (python3, make, a C++ compiler)`);
  });
  return pty;
}

/** The tmux client's environment: a terminal and a locale, none of the node's secrets. */
function clientEnv(term: string): Record<string, string> {
  const env: Record<string, string> = { TERM: term };
  for (const k of ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TMPDIR']) if (process.env[k]) env[k] = process.env[k]!;
  return env;
}

export interface AttachDeps {
  tmux: Tmux;
  session: string;
  cwd: string;
  dial(): ClientDuplexStream<AttachFrame, AttachFrame>;
}

/** Dial back and run the tmux client until it ends (detach, the session ending) or the coordinator hangs up. */
export async function runAttach(req: AttachRequest, d: AttachDeps): Promise<void> {
  const { spawn } = await loadPty();
  const call = d.dial();
  call.write(AttachFrame.fromPartial({ open: { relay: req.relay, taskId: req.taskId } }));
  let term: import('node-pty').IPty;
  try {
    term = spawn('tmux', attachArgs(d.tmux.socket, d.session, req.readOnly), {
      name: req.term, cols: req.cols, rows: req.rows, cwd: d.cwd, env: clientEnv(req.term), encoding: null,
    });
  } catch (err) {
    call.write(AttachFrame.fromPartial({ end: { reason: 'error', message: `tmux attach could not start: ${(err as Error).message}` } }));
    call.end();
    return;
  }
  log.info('terminal attached', { task: req.taskId, session: d.session, readOnly: req.readOnly });
  let gone = false;
  term.onData((data: string | Buffer) => {
    if (gone) return;
    if (!call.write(AttachFrame.fromPartial({ output: Buffer.from(data as Buffer) }))) {
      term.pause();
      call.once('drain', () => term.resume());
    }
  });
  call.on('data', (f: AttachFrame) => {
    if (f.input.length) term.write(Buffer.from(f.input));
    if (f.resize) term.resize(clampSize(f.resize.cols, req.cols), clampSize(f.resize.rows, req.rows));
  });
  // The user left (or the coordinator went): hang up the tmux client, which detaches it; the agent runs on.
  const hangUp = () => { if (!gone) { gone = true; try { term.kill(); } catch { /* exited already */ } } };
  call.on('end', hangUp);
  call.on('error', (err) => { log.debug('attach stream broke', { err }); hangUp(); });
  await new Promise<void>((resolve) => {
    term.onExit(() => {
      void (async () => {
        const running = await d.tmux.hasSession(d.session).catch(() => false);
        const end = running
          ? { reason: 'detached', message: `detached from task #${req.taskId}; the agent keeps running` }
          : { reason: 'session_ended', message: `the session of task #${req.taskId} ended` };
        log.info('terminal detached', { task: req.taskId, session: d.session, reason: end.reason });
        if (!gone) {
          gone = true;
          call.write(AttachFrame.fromPartial({ end }));
        }
        call.end();
        resolve();
      })();
    });
  });
}
