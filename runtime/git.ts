// Running git: one helper so every call gets the same isolation (no prompts, no
// user-global config surprises) and the same error shape.
import { execFile } from 'node:child_process';

export class GitError extends Error {
  constructor(readonly args: string[], readonly stderr: string, readonly code: number | null) {
    super(`git ${args.join(' ')} failed${code !== null ? ` (exit ${code})` : ''}: ${summarize(stderr)}`);
    this.name = 'GitError';
  }
}

/** The lines of git's stderr that say what went wrong (not its hints). */
export function summarize(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('hint:'));
  const key = lines.filter((l) => /^(fatal|error):|^! \[|\[rejected\]/.test(l));
  return (key.length ? key : lines).slice(-3).join(' ') || 'no output';
}

export function git(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, {
      cwd: opts.cwd,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...opts.env },
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      if (err) reject(new GitError(args, String(stderr || err.message), typeof err.code === 'number' ? err.code : null));
      else resolve(String(stdout));
    });
  });
}
