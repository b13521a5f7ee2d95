// Drives the built orch binary the way a user does: `orch serve` in the background
// under a temp ORCH_HOME, CLI commands as child processes. Everything started here
// is stopped by PID or by its private tmux socket.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './wait.js';

/** The checkout's root (this file runs from test/harness or, for the bench, dist/test/harness). */
export const ROOT = (() => {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'bin', 'orch.js'))) {
    const up = resolve(dir, '..');
    if (up === dir) throw new Error('cannot find the orch checkout above ' + import.meta.dirname);
    dir = up;
  }
  return dir;
})();
export const ORCH_BIN = join(ROOT, 'bin', 'orch.js');
export const CLAUDE_BIN = join(ROOT, 'node_modules', '.bin', 'claude');

/** The `env:` of a Claude Code agent in config.yml (at 4 spaces), offline against a fake model at `modelUrl`. */
export function claudeEnvYaml(modelUrl: string, configDir: string, extra: Record<string, string> = {}): string[] {
  return [
    '    env:',
    `      ANTHROPIC_BASE_URL: ${modelUrl}`,
    '      ANTHROPIC_API_KEY: sk-ant-test-0123456789abcdef',
    `      CLAUDE_CONFIG_DIR: ${configDir}`,
    '      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"',
    '      DISABLE_TELEMETRY: "1"',
    '      DISABLE_AUTOUPDATER: "1"',
    ...Object.entries(extra).map(([k, v]) => `      ${k}: "${v}"`),
  ];
}

/** A `claude:` entry under `agents:`: the checkout's Claude Code, bypassing permissions, against a fake model. */
export function claudeAgentYaml(modelUrl: string, configDir: string, extra: Record<string, string> = {}): string[] {
  return ['  claude:', `    command: ${CLAUDE_BIN}`, '    permission_mode: bypassPermissions', ...claudeEnvYaml(modelUrl, configDir, extra)];
}

export interface CliResult { code: number; stdout: string; stderr: string }

export class OrchHome {
  readonly dir: string;
  readonly home: string;
  readonly tmuxSocket: string;
  private procs = new Set<ChildProcess>();

  constructor(prefix = 'orch-e2e-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.home = join(this.dir, 'home');
    mkdirSync(this.home, { recursive: true });
    this.tmuxSocket = `orch-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    // The developer's own coordinator settings must not leak in; the test's may.
    const env: NodeJS.ProcessEnv = { ...process.env, ORCH_HOME: this.home, ORCH_LOG_LEVEL: 'debug' };
    delete env.ORCH_COORDINATOR;
    delete env.ORCH_TOKEN;
    return { ...env, ...extra };
  }

  writeConfig(yaml: string): void {
    writeFileSync(join(this.home, 'config.yml'), yaml);
  }

  /** Run `orch <args>`; resolves with exit code and output (never rejects on a non-zero exit). */
  run(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; wrap?: string[] } = {}): Promise<CliResult> {
    const [cmd, ...argv] = [...(opts.wrap ?? []), process.execPath, ORCH_BIN, ...args];
    return new Promise((resolvePromise) => {
      execFile(cmd, argv, { env: this.env(opts.env), cwd: opts.cwd ?? this.dir, timeout: opts.timeoutMs ?? 60_000 },
        (err, stdout, stderr) => resolvePromise({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }));
    });
  }

  async json<T>(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; wrap?: string[] } = {}): Promise<T> {
    const r = await this.run([...args, '--json'], opts);
    // Not "exited": waitFor ends at once on an error saying a process exited (a dead server), and a
    // CLI call that failed once (a coordinator busy on a loaded machine) is worth another try.
    if (r.code !== 0) throw new Error(`orch ${args.join(' ')} failed with exit code ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Start a long-running orch command (serve, node start); its output goes to a log file. */
  /** `wrap` prefixes the command (e.g. `ip netns exec NS`, which execs in place: the PID stays ours). */
  spawn(args: string[], logName: string, env: NodeJS.ProcessEnv = {}, wrap: string[] = []): ChildProcess {
    const log = join(this.dir, `${logName}.log`);
    const out = require_fd(log);
    const [cmd, ...argv] = [...wrap, process.execPath, ORCH_BIN, ...args];
    const p = spawn(cmd, argv, { env: this.env(env), cwd: this.dir, stdio: ['ignore', out, out] });
    this.procs.add(p);
    p.on('exit', () => this.procs.delete(p));
    return p;
  }

  logOf(name: string): string {
    const f = join(this.dir, `${name}.log`);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /**
   * Start `orch serve` and wait until the CLI can reach it and, when it runs a local agent-node
   * (embedded mode, or --node), until that node is registered: the coordinator answers before its
   * node has probed its agents (each CLI's --version) and registered, and until then a task waits
   * with "no agent-node is registered", the router runs round-robin, a bash job finds no node.
   */
  async serve(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
    const p = this.spawn(['serve', ...extraArgs], 'serve', env);
    const alive = () => { if (p.exitCode !== null) throw new Error(`orch serve exited ${p.exitCode}:\n${this.logOf('serve').slice(-3000)}`); };
    const mode = await waitFor(async () => {
      alive();
      const r = await this.run(['status', '--json'], { env });
      return r.code === 0 ? (JSON.parse(r.stdout) as { mode: string }).mode : undefined;
    }, { timeoutMs: 90_000, what: 'orch serve to answer' });
    if (mode === 'embedded' || extraArgs.includes('--node')) {
      await waitFor(async () => {
        alive();
        const r = await this.run(['node', 'list', '--json'], { env });
        return r.code === 0 && (JSON.parse(r.stdout) as Array<{ state: string }>).some((n) => n.state === 'up');
      }, { timeoutMs: 90_000, what: 'orch serve\'s local agent-node to register' });
    }
    return p;
  }

  async stop(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(t);
  }

  /** Stop whatever this home started: processes by PID, tmux by its private socket, postgres by its pid file. */
  async cleanup(keep = false): Promise<void> {
    for (const p of [...this.procs]) await this.stop(p, 'SIGTERM', 10_000);
    await new Promise<void>((r) => execFile('tmux', ['-L', this.tmuxSocket, 'kill-server'], () => r()));
    for (const pidFile of [join(this.home, 'pg', 'data', 'postmaster.pid')]) {
      if (!existsSync(pidFile)) continue;
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (pid > 0) { try { process.kill(pid, 'SIGQUIT'); } catch { /* already gone */ } }
    }
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Session names on this home's private tmux server. */
  tmuxSessions(): Promise<string[]> {
    return new Promise((r) => execFile('tmux', ['-L', this.tmuxSocket, 'list-sessions', '-F', '#{session_name}'], (err, out) => r(err ? [] : String(out).split('\n').filter(Boolean))));
  }
}

import { openSync } from 'node:fs';
function require_fd(path: string): number {
  return openSync(path, 'a');
}

/** A real git repository with a bare "origin" holding one commit on main. */
export async function makeRepo(dir: string, name = 'demo'): Promise<{ work: string; origin: string }> {
  const origin = join(dir, `${name}-origin.git`);
  const work = join(dir, name);
  const g = (args: string[], cwd?: string) => new Promise<string>((res, rej) =>
    execFile('git', args, { cwd, env: gitEnv() }, (err, out, se) => (err ? rej(new Error(`git ${args.join(' ')}: ${se}`)) : res(String(out)))));
  await g(['init', '-q', '--bare', '-b', 'main', origin]);
  await g(['init', '-q', '-b', 'main', work]);
  writeFileSync(join(work, 'README.md'), `# ${name}\n`);
  await g(['add', '.'], work);
  await g(['-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-q', '-m', 'initial'], work);
  await g(['remote', 'add', 'origin', origin], work);
  await g(['push', '-q', 'origin', 'main'], work);
  return { work, origin };
}

/** git without the user's global config. */
export function gitEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
}

export function git(args: string[], cwd?: string): Promise<string> {
  return new Promise((res, rej) => execFile('git', args, { cwd, env: gitEnv() }, (err, out, se) => (err ? rej(new Error(`git ${args.join(' ')}: ${se}`)) : res(String(out)))));
}
