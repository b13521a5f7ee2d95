// `orch completions bash|zsh|fish`: each script is valid for its shell (`-n`), and loaded
// into the real shell it completes `orch ta` to `task` by asking the built orch on PATH.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it.runIf(have('zsh'))('zsh: the script parses, and in an interactive zsh (zpty) with compinit `orch ta<Tab>` becomes `orch task`', async () => {
    expect((await shell('zsh', ['-n', scripts.zsh])).code).toBe(0);
    // Installed as the README says: as _orch in a directory of $fpath.
    const fpathDir = join(h.dir, 'zsh-functions');
    mkdirSync(fpathDir);
    writeFileSync(join(fpathDir, '_orch'), readFileSync(scripts.zsh));
    // A zsh on a pseudo-terminal (emacs keys: EDITOR=vi would pick vi's) types the words and Tab, then prints the edited line: the keys
    // queue up, and zle finishes the completion before it reads the next one.
    const driver = join(h.dir, 'zsh-driver.zsh');
    writeFileSync(driver, [
      'zmodload zsh/zpty',
      "zpty z 'zsh -f -i'",
      'zpty -w z "fpath=($1 \\$fpath); autoload -Uz compinit; compinit -u -D; bindkey -e; PROMPT=\'> \'"',
      "zpty -w -n z \"$2\"$'\\t\\x01echo LINE=\\x05\\n'",
      "zpty -r z out $'*\\nLINE=*\\n*'",
      "print -r -- \"$out\" | tr -d '\\r' | grep -a '^LINE='",
      'zpty -d z',
    ].join('\n') + '\n');
    const ta = await shell('zsh', ['-f', driver, fpathDir, 'orch ta']);
    expect(ta.out, ta.err).toBe('LINE=orch task\n');
    const ret = await shell('zsh', ['-f', driver, fpathDir, 'orch task ret']);
    expect(ret.out, ret.err).toBe('LINE=orch task retry\n');
  });
});
