// Running git: one helper so every call gets the same isolation (no prompts, no
// user-global config surprises) and the same error shape.
import { execFile } from 'node:child_process';

export class GitError extends Error {
  constructor(readonly args: string[], readonly stderr: string, readonly code: number | null) {
    super(`git ${args.join(' ')} failed${code !== null ? ` (exit ${code})` : ''}: ${stderr.trim().split('\n').slice(-3).join(' ') || 'no output'}`);
    this.name = 'GitError';
  }
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
