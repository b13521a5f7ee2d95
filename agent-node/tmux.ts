// tmux on orch's own socket (`tmux -L <socket>`), never the user's default server.
// Secrets reach the session through a FIFO the runner script sources, so they
// never appear in argv (ps), in tmux's environment tables or on disk.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { sq } from './runner.js';

export class TmuxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TmuxError';
  }
}

/** One tmux session per attempt (names allow neither `.` nor `:`). */
export function sessionName(project: string, taskId: number, attempt: number): string {
  const repo = project.split('/').pop() ?? project;
  return `orch-${repo.replace(/[^A-Za-z0-9_-]/g, '_')}-${taskId}-${attempt}`;
}

/** `export K='v'` lines bash can source (single quotes; `'` as `'\''`). */
export function envScript(env: Record<string, string>): string {
  return Object.entries(env)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map(([k, v]) => `export ${k}=${sq(String(v))}\n`)
    .join('');
}

/** tmux's ways of saying "no such server": a session on it cannot exist. The last session
 * ending makes the server exit, so a call racing that sees "server exited unexpectedly". */
const NO_SERVER = /no server running|error connecting|No such file|server exited unexpectedly|lost server/i;

export class Tmux {
  constructor(readonly socket: string) {}

  private run(args: string[]): Promise<string> {
    const env = { ...process.env };
    delete env.TMUX; // never nest into (or talk to) the session orch itself may run in
    return new Promise((resolve, reject) => {
      execFile('tmux', ['-L', this.socket, ...args], { env, timeout: 10_000 }, (err, stdout, stderr) => {
        if (err) reject(new TmuxError(`tmux ${args[0]}: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout));
      });
    });
  }

  /** Start a detached session running `command` in `cwd` (its environment comes separately, see writeFifo). */
  async startSession(name: string, cwd: string, command: string): Promise<void> {
    const args = ['new-session', '-d', '-s', name, '-c', cwd, '-x', '200', '-y', '50', command];
    try {
      await this.run(args);
    } catch (err) {
      // The server was exiting (its last session just ended) as we spoke to it: a new one starts now.
      if (!/server exited unexpectedly|lost server/i.test((err as Error).message)) throw err;
      await this.run(args);
    }
  }

  async hasSession(name: string): Promise<boolean> {
    try {
      await this.run(['has-session', '-t', `=${name}`]);
      return true;
    } catch (err) {
      const m = (err as Error).message;
      if (/can't find session/i.test(m) || NO_SERVER.test(m)) return false;
      throw err;
    }
  }

  async listSessions(): Promise<string[]> {
    try {
      return (await this.run(['list-sessions', '-F', '#{session_name}'])).split('\n').filter(Boolean);
    } catch (err) {
      if (NO_SERVER.test((err as Error).message)) return [];
      throw err;
    }
  }

  /** Kill a session; one that is already gone is fine. */
  async killSession(name: string): Promise<void> {
    await this.run(['kill-session', '-t', `=${name}`]).catch((err) => {
      const m = (err as Error).message;
      if (!/can't find session/i.test(m) && !NO_SERVER.test(m)) throw err;
    });
  }

  async killServer(): Promise<void> {
    await this.run(['kill-server']).catch(() => undefined);
  }
}

/**
 * Write text into a FIFO once its reader opens it. Opening with O_NONBLOCK fails
 * (ENOENT, then ENXIO) until the FIFO exists and a reader has it open, so poll instead of blocking a libuv thread forever.
 */
export async function writeFifo(path: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        const buf = Buffer.from(text);
        let off = 0;
        while (off < buf.length) {
          try {
            off += (await fh.write(buf, off)).bytesWritten;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      } finally {
        await fh.close();
      }
      // The reader has it open; the name is no longer needed (one less process for the runner).
      await unlink(path).catch(() => undefined);
      return;
    } catch (err) {
      // ENOENT: the runner has not made the FIFO yet; ENXIO: it has not opened it yet.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENXIO' && code !== 'ENOENT') throw err;
      if (Date.now() > deadline) throw new TmuxError(`the session never read its environment (${path})`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}
