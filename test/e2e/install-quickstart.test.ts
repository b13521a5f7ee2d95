// The package as a stranger gets it: `npm pack`, `npm install -g` into a temporary prefix,
// then the README's quick start word for word from a repository directory, with `orch` found
// on PATH (the prefix's bin, not this checkout). The agent is the real Claude Code CLI against
// the fake Anthropic API, so the task the quick start adds really runs and `orch stream 1` ends.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fixtures/fake-anthropic.js';
import { claudeAgentYaml, makeRepo, OrchHome, ROOT } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

interface Sh { code: number; out: string; err: string }
function sh(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Sh> {
  return new Promise((resolve) => execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 },
    (err, out, se) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: String(out), err: String(se) })));
}

/** The `sh` code blocks of the README's "Quick start" section, each as its command lines (comments dropped). */
function quickStartBlocks(): string[][] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /^## Quick start\n([\s\S]*?)^## /m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Quick start" section');
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean));
}

describe('npm pack, npm install -g, and the README quick start', () => {
  let h: OrchHome;
  let fake: FakeAnthropic;
  let prefix: string;
  let env: NodeJS.ProcessEnv;
  let serve: ChildProcess | undefined;
  let tarball: string;

  beforeAll(async () => {
    h = new OrchHome('orch-install-');
    fake = await startFakeAnthropic({ writeFile: { path: 'hello.txt', content: 'hello\n' } });
    const packed = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', h.dir], { cwd: ROOT, env: process.env, timeoutMs: 120_000 });
    expect(packed.code, packed.err).toBe(0);
    const info = JSON.parse(packed.out) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(h.dir, info[0].filename);
    const files = info[0].files.map((f) => f.path);
    for (const want of ['bin/orch.js', 'dist/cli/main.js', 'proto/orch/v1/coordinator.proto', 'coordinator/store/migrations/001_init.sql', 'deploy/service/systemd-user.service.in', 'README.md']) {
      expect(files, want).toContain(want);
    }
    expect(files.filter((f) => f.startsWith('dist/test/'))).toEqual([]);

    prefix = join(h.dir, 'prefix');
    const inst = await sh('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: h.dir, env: process.env, timeoutMs: 300_000 });
    expect(inst.code, inst.err).toBe(0);

    // Only the prefix's bin and the system's: not this checkout's node_modules/.bin.
    env = h.env({ PATH: `${join(prefix, 'bin')}:${process.env.PATH!.split(':').filter((p) => !p.includes('node_modules')).join(':')}` });
    h.writeConfig([
      'agents:',
      // The user's own Claude Code install; here the checkout's.
      ...claudeAgentYaml(fake.url, join(h.dir, 'claude-config')),
      'tmux:',
      `  socket: ${h.tmuxSocket}`,
      '',
    ].join('\n'));
  }, 420_000);

  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const gone = new Promise((r) => serve!.once('exit', r));
      serve.kill('SIGTERM');
      await gone;
    }
    await h?.cleanup(!!process.env.ORCH_KEEP_TEST_DIRS);
    await fake?.close();
  });

  it('runs the quick start from a repository directory with the globally installed orch', async () => {
    const which = await sh('bash', ['-c', 'command -v orch'], { cwd: h.dir, env });
    expect(realpathSync(which.out.trim())).toBe(join(prefix, 'lib', 'node_modules', 'orch', 'bin', 'orch.js'));

    const [install, inRepo] = quickStartBlocks();
    // The first block ends by starting the coordinator; it runs in the background here.
    expect(install.at(-1)).toBe('orch serve');
    const repo = await makeRepo(h.dir, 'your-repo');
    serve = spawn('bash', ['-c', `exec ${install.at(-1)}`], { cwd: h.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let serveOut = '';
    serve.stdout!.on('data', (d) => { serveOut += String(d); });
    serve.stderr!.on('data', (d) => { serveOut += String(d); });
    await waitFor(() => {
      if (serve!.exitCode !== null) throw new Error(`orch serve exited ${serve!.exitCode}: ${serveOut.slice(-3000)}`);
      return serveOut.includes('orch coordinator listening on');
    }, { timeoutMs: 120_000, what: 'the installed orch serve to listen' });

    // The second block, line by line, with its `cd` into our repository.
    expect(inRepo[0]).toMatch(/^cd \S+/);
    const lines = [`cd ${repo.work}`, ...inRepo.slice(1)];
    expect(lines.map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual(expect.arrayContaining(['orch project add', 'orch task add', 'orch task list']));
    const outputs: Record<string, Sh> = {};
    for (let i = 1; i < lines.length; i++) {
      const r = await sh('bash', ['-ec', lines.slice(0, i + 1).filter((l, j) => j === 0 || j === i).join('\n')], { cwd: h.dir, env, timeoutMs: 150_000 });
      expect(r.code, `${lines[i]}\n${r.err}\n${serveOut.slice(-2000)}`).toBe(0);
      outputs[lines[i]] = r;
    }
    const get = (prefixWords: string) => Object.entries(outputs).find(([l]) => l.startsWith(prefixWords))![1];
    expect(get('orch project add').out).toMatch(/^project local\/your-repo registered/);
    const title = /^orch task add "([^"]+)"/.exec(lines.find((l) => l.startsWith('orch task add'))!)![1];
    expect(get('orch task add').out).toContain(`created task #1 in local/your-repo: ${title}`);
    expect(get('orch task list').out).toMatch(new RegExp(`^1\\s+\\S+\\s+claude\\s.*${title}`, 'm'));

    // Every list answers --json with parseable JSON holding what the text showed.
    const json = async (args: string) => {
      const r = await sh('bash', ['-ec', `cd ${repo.work}\norch ${args} --json`], { cwd: h.dir, env });
      expect(r.code, `orch ${args} --json: ${r.err}`).toBe(0);
      return JSON.parse(r.out) as unknown;
    };
    // orch stream 1 returned: the task ran to the end with the real Claude Code CLI.
    expect(await json('task list')).toEqual([expect.objectContaining({ id: 1, title, project: 'local/your-repo', agent: 'claude', status: 'done' })]);
    expect(await json('project list')).toEqual([expect.objectContaining({ name: 'local/your-repo', path: repo.work })]);
    expect(await json('node list')).toEqual([expect.objectContaining({ state: 'up', slots: 4 })]);
    expect(await json('agents')).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'claude', installed: true })]));
    expect(await json('job list')).toEqual([]);
    expect(await json('metrics')).toMatchObject({ tasks_by_status: expect.any(Object) });
    expect(await json('task cost 1')).toMatchObject({ task: 1 });
    expect(await json('status')).toMatchObject({ pid: serve.pid, mode: 'embedded' });
    expect(await json('service status')).toMatchObject({ name: 'orch-serve.service' });

    // Stop serve by its PID, as written in the coordinator file.
    const { pid } = JSON.parse(readFileSync(join(h.home, 'run', 'coordinator.json'), 'utf8')) as { pid: number };
    expect(pid).toBe(serve.pid);
    const gone = new Promise<number | null>((r) => serve!.once('exit', (c) => r(c)));
    process.kill(pid, 'SIGTERM');
    expect(await gone).toBe(0);
    expect(existsSync(join(h.home, 'run', 'coordinator.json'))).toBe(false);
  }, 300_000);
});
