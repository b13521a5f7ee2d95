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
  private watchers = new Set<() => void>();
  exit: Promise<number>;
  readonly p: pty.IPty;
  constructor(args: string[], env: NodeJS.ProcessEnv, cols = 100, rows = 30) {
    this.p = pty.spawn(process.execPath, [ORCH_BIN, ...args], { name: 'xterm-256color', cols, rows, cwd: ROOT, env: env as Record<string, string> });
    this.p.onData((d) => { this.screen += d; for (const l of this.watchers) l(); });
    this.exit = new Promise((r) => this.p.onExit((e) => { Terminal.open.delete(this); r(e.exitCode); }));
    Terminal.open.add(this);
  }
  /** Milliseconds from typing `keys` until `echo` is drawn (event-driven: for timing a round trip). */
  roundTrip(keys: string, echo: string, timeoutMs = 10_000): Promise<number> {
    const from = this.screen.length;
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.watchers.delete(check); reject(new Error(`no ${echo} within ${timeoutMs} ms`)); }, timeoutMs);
      const check = () => {
        if (!this.screen.slice(from).includes(echo)) return;
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve(performance.now() - t0);
      };
      this.watchers.add(check);
      this.p.write(keys);
    });
  }
  /** The CLI's exit code, or an error showing what it drew if it does not end in time. */
  ends(timeoutMs = 20_000): Promise<number> {
    return Promise.race([this.exit, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`the CLI did not exit within ${timeoutMs} ms; screen: ${JSON.stringify(this.screen.slice(-600))}`)), timeoutMs).unref())]);
  }
  /** Keys, as the terminal sends them to the CLI. */
  type(text: string): void { this.p.write(text); }
  /**
   * Keys one at a time at a person's pace (a key every `gapMs`). tmux 3.3 drops what a
   * read-only client's ignored key arrived together with, detach key included; people
   * do not type 8 keys in one read.
   */
  async typeAtHumanPace(text: string, gapMs = 40): Promise<void> {
    for (const ch of text) {
      this.p.write(ch);
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }
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

