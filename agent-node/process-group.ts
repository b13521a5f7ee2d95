// One child process in its own process group, bounded in time: what asks and bash jobs run.
// A timeout stops the whole group (the child and all it started): SIGTERM, SIGKILL 5 s later.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface GroupRun {
  /** Exit code (127 when the command could not be started at all). */
  code: number | null;
  timedOut: boolean;
  /** Why the command could not be started, when it could not. */
  spawnError?: string;
}

export function runInGroup(argv: string[], o: {
  cwd: string; env: Record<string, string>; timeoutMs: number; stdinFile?: string;
  onStdout(b: Buffer): void; onStderr(b: Buffer): void;
}): Promise<GroupRun> {
  return new Promise((resolve) => {
    const fd = o.stdinFile ? openSync(o.stdinFile, 'r') : 'ignore';
    const child = spawn(argv[0], argv.slice(1), { cwd: o.cwd, env: o.env, stdio: [fd, 'pipe', 'pipe'], detached: true });
    if (typeof fd === 'number') closeSync(fd);
    child.stdout!.on('data', o.onStdout);
    child.stderr!.on('data', o.onStderr);
    let timedOut = false;
    const kill = (sig: NodeJS.Signals) => { try { process.kill(-child.pid!, sig); } catch { /* gone */ } };
    const timer = setTimeout(() => {
      timedOut = true;
      kill('SIGTERM');
      setTimeout(() => kill('SIGKILL'), 5_000).unref();
    }, o.timeoutMs);
    let settled = false;
    const done = (r: GroupRun) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    child.on('error', (e) => done({ code: 127, timedOut, spawnError: e.message }));
    child.on('close', (code) => done({ code, timedOut }));
  });
}
