import { execFile } from 'node:child_process';

/** First version-looking token of `<binary> --version` (15 s limit: OpenCode alone takes seconds to start on a busy machine). */
export function versionOf(binary: string, args = ['--version']): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: 15_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      if (err) return reject(err);
      const text = `${stdout}\n${stderr}`;
      resolve(/\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?/.exec(text)?.[0] ?? text.trim().split('\n')[0] ?? '');
    });
  });
}
