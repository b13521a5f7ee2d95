// `orch completions bash|zsh|fish`: each script is valid for its shell (`-n`), and loaded
// into the real shell it completes `orch ta` to `task` by asking the built orch on PATH.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCH_BIN, OrchHome } from '../harness/orch.js';

/** A shell the test needs: missing is a skip with a warning locally, a failure under CI=true (.ci/run installs them). */
function have(shell: string): boolean {
  const ok = spawnSync(shell, ['-c', 'exit 0'], { stdio: 'ignore' }).status === 0;
  if (!ok && process.env.CI === 'true') throw new Error(`${shell} is not installed; under CI=true this is a failure, not a skip`);
  if (!ok) console.warn(`${shell} is not installed: its completion test is skipped`);
  return ok;
}

describe('orch completions', () => {
  let h: OrchHome;
  let bin: string;
  const scripts: Record<string, string> = {};

  const shell = (cmd: string, args: string[]) => new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(cmd, args, { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ORCH_HOME: h.home }, timeout: 30_000 },
      (err, out, se) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: String(out), err: String(se) }));
  });

  beforeAll(async () => {
    h = new OrchHome('orch-completions-');
    bin = mkdtempSync(join(tmpdir(), 'orch-completions-bin-'));
    symlinkSync(ORCH_BIN, join(bin, 'orch')); // `orch` on PATH, as after `npm install -g`
    for (const s of ['bash', 'zsh', 'fish']) {
      const r = await h.run(['completions', s]);
      expect(r.code, r.stderr).toBe(0);
      scripts[s] = join(h.dir, `orch.${s}`);
      writeFileSync(scripts[s], r.stdout);
    }
  });

  afterAll(async () => {
    rmSync(bin, { recursive: true, force: true });
    await h?.cleanup();
  });

  it('refuses a shell it has no script for', async () => {
    const r = await h.run(['completions', 'tcsh']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Invalid values[\s\S]*tcsh[\s\S]*bash, zsh, fish|choices/i);
  });

  it('bash: the script parses and completes `orch ta` to task, `orch task l` to list', async () => {
    expect((await shell('bash', ['-n', scripts.bash])).code).toBe(0);
    const run = (words: string) => shell('bash', ['-c', `source ${scripts.bash}; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _orch_completions; printf '%s\\n' "\${COMPREPLY[@]}"`]);
    const ta = await run('orch ta');
    expect(ta.out.trim().split('\n')).toEqual(['task']);
    const tl = await run('orch task l');
    expect(tl.out.trim().split('\n')).toEqual(['list']);
    const all = await run("orch task ''");
    expect(all.out).toMatch(/^retry$/m);
  });

  it.runIf(have('fish'))('fish: the script parses and `complete -C "orch ta"` offers task with its description', async () => {
    expect((await shell('fish', ['-n', scripts.fish])).code).toBe(0);
    const ta = await shell('fish', ['-c', `source ${scripts.fish}; complete -C "orch ta"`]);
    expect(ta.out.trim().split('\n')).toEqual(['task\tManage tasks']);
    const sub = await shell('fish', ['-c', `source ${scripts.fish}; complete -C "orch task re"`]);
    expect(sub.out).toMatch(/^retry\t/m);
  });

  it.runIf(have('zsh'))('zsh: the script parses and its function hands _describe task for `orch ta`', async () => {
    expect((await shell('zsh', ['-n', scripts.zsh])).code).toBe(0);
    // Outside an interactive line editor compsys cannot run, so compdef and _describe are
    // stood in for: the script's own function runs and calls the real orch with the words.
    const r = await shell('zsh', ['-c', `compdef() { :; }; source ${scripts.zsh}; _describe() { print -l -- "\${(@P)2}"; }; words=(orch ta); CURRENT=2; _orch_completions`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^task:Manage tasks$/m);
    const sub = await shell('zsh', ['-c', `compdef() { :; }; source ${scripts.zsh}; _describe() { print -l -- "\${(@P)2}"; }; words=(orch task ''); CURRENT=3; _orch_completions`]);
    expect(sub.out).toMatch(/^retry:Reset a task/m);
    expect(sub.out).not.toMatch(/^serve:/m);
  });
});
