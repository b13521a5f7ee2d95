// A CLI on a real pseudo-terminal (node-pty), for the commands a person runs at a terminal
// (orch task attach), and the tmux facts those tests check on the node's private socket.
import { execFile, execFileSync } from 'node:child_process';
import * as pty from 'node-pty';
import { ORCH_BIN, ROOT } from './orch.js';
import { waitFor } from './wait.js';

/** A CLI process on a pseudo-terminal: everything it drew, and how it ended. */
export class Terminal {
  static open = new Set<Terminal>();
  screen = '';
  exit: Promise<number>;
  readonly p: pty.IPty;
  constructor(args: string[], env: NodeJS.ProcessEnv, cols = 100, rows = 30) {
    this.p = pty.spawn(process.execPath, [ORCH_BIN, ...args], { name: 'xterm-256color', cols, rows, cwd: ROOT, env: env as Record<string, string> });
    this.p.onData((d) => { this.screen += d; });
    this.exit = new Promise((r) => this.p.onExit((e) => { Terminal.open.delete(this); r(e.exitCode); }));
    Terminal.open.add(this);
  }
  /** Keys, as the terminal sends them to the CLI. */
  type(text: string): void { this.p.write(text); }
  /** Wait for `text` to be drawn after position `from` of the screen. */
  async sees(text: string | RegExp, what: string, from = 0): Promise<string> {
    return waitFor(() => {
      const s = this.screen.slice(from);
      const hit = typeof text === 'string' ? s.includes(text) : text.test(s);
      return hit ? s : undefined;
    }, { timeoutMs: 20_000, what: `${what} (screen so far: ${JSON.stringify(this.screen.slice(-400))})` });
  }
}

/** The tmux prefix key of the node's tmux server as the byte a terminal sends (C-b -> 0x02). */
export function prefixKey(socket: string): string {
  const p = execFileSync('tmux', ['-L', socket, 'show-options', '-gv', 'prefix'], { encoding: 'utf8' }).trim();
  const m = /^C-(.)$/.exec(p);
  if (!m) throw new Error(`unexpected tmux prefix ${p}`);
  return String.fromCharCode(m[1].toLowerCase().charCodeAt(0) - 96);
}

export function capturePane(socket: string, session: string): Promise<string> {
  return new Promise((r) => execFile('tmux', ['-L', socket, 'capture-pane', '-p', '-t', `=${session}:`], (err, out) => r(err ? '' : String(out))));
}

