// `orch service …`: the systemd user unit is written under XDG_CONFIG_HOME, systemd itself
// accepts it (`systemd-analyze verify`), and the command line and environment it holds really
// start a coordinator; the launchd plist parses as a property list (python3's plistlib); `start`
// where no systemd user manager runs says so and what to do.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCH_BIN, OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

/** [Section] -> key -> values (a key may repeat, e.g. Environment). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) { section = s[1]; out[section] = {}; continue; }
    const i = line.indexOf('=');
    expect(i, `a unit line without "=": ${line}`).toBeGreaterThan(0);
    (out[section][line.slice(0, i)] ??= []).push(line.slice(i + 1));
  }
  return out;
}

/** systemd's word splitting: double quotes with backslash escapes; %% and $$ are a literal % and $. */
function words(value: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m; (m = re.exec(value));) out.push((m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]).replace(/%%/g, '%').replace(/\$\$/g, '$'));
  return out;
}

const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

describe('orch service', () => {
  let h: OrchHome;
  let xdg: string;
  // ORCH_HOME with a space and a % (quoting in ExecStart/Environment), and no systemd user manager reachable.
  const env = () => ({ XDG_CONFIG_HOME: xdg, ORCH_HOME: join(h.dir, 'orch home 100%'), XDG_RUNTIME_DIR: join(h.dir, 'no-runtime'), DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(h.dir, 'no-bus')}` });

  beforeAll(() => {
    h = new OrchHome('orch-service-');
    xdg = join(h.dir, 'xdg');
    mkdirSync(env().ORCH_HOME, { recursive: true });
    writeFileSync(join(env().ORCH_HOME, 'config.yml'), `tmux:\n  socket: ${h.tmuxSocket}\n`);
  });
  afterAll(async () => { await h?.cleanup(); });

  it('install writes a user unit that systemd accepts and whose command starts a coordinator', async () => {
    const r = await h.run(['service', 'install'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const file = join(xdg, 'systemd', 'user', 'orch-serve.service');
    expect(r.stdout).toContain(`wrote ${file}`);
    expect(r.stdout).toContain('orch service start serve');
    const text = readFileSync(file, 'utf8');

    if (hasSystemdAnalyze) {
      const v = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      expect(v.status, v.stderr).toBe(0);
      expect(v.stderr.split('\n').filter((l) => l.includes(file)), 'systemd complains about the unit').toEqual([]);
    } else if (process.env.CI === 'true') {
      throw new Error('systemd-analyze is missing; under CI=true this is a failure');
    }

    const unit = parseUnit(text);
    expect(Object.keys(unit)).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.Service.KillMode).toEqual(['process']); // agent sessions in tmux outlive a stop
    expect(unit.Install.WantedBy).toEqual(['default.target']);
    const exec = words(unit.Service.ExecStart[0]);
    expect(exec).toEqual([process.execPath, realpathSync(ORCH_BIN), 'serve']);
    const environment = Object.fromEntries(unit.Service.Environment.flatMap(words).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    expect(environment.ORCH_HOME).toBe(env().ORCH_HOME);
    expect(environment.PATH).toBe(process.env.PATH);
    expect(Object.keys(environment).filter((k) => /TOKEN$/.test(k))).toEqual([]); // secrets stay out of the unit

    // What systemd would run: that command with that environment (and nothing of ours).
    const p = spawn(exec[0], exec.slice(1), { env: { PATH: environment.PATH, ORCH_HOME: environment.ORCH_HOME, HOME: process.env.HOME }, cwd: environment.ORCH_HOME, stdio: 'ignore' });
    const coordFile = join(environment.ORCH_HOME, 'run', 'coordinator.json');
    try {
      await waitFor(() => {
        if (p.exitCode !== null) throw new Error(`the unit's command exited ${p.exitCode}`);
        return existsSync(coordFile);
      }, { timeoutMs: 90_000, what: "the unit's orch serve to listen" });
      const st = await h.run(['status', '--json'], { env: env() });
      expect(st.code, st.stderr).toBe(0);
      expect(JSON.parse(st.stdout)).toMatchObject({ pid: p.pid, mode: 'embedded' });
    } finally {
      const gone = new Promise((res) => (p.exitCode !== null ? res(null) : p.once('exit', res)));
      p.kill('SIGTERM');
      await gone;
    }
  }, 120_000);

  it('install node carries the coordinator and NATS addresses; reinstalling the same is "unchanged"', async () => {
    const args = ['service', 'install', 'node', '--coordinator', '10.1.2.3:7400', '--nats', 'nats://10.1.2.3:4222'];
    expect((await h.run(args, { env: env() })).code).toBe(0);
    const again = await h.run(args, { env: env() });
    expect(again.stdout).toContain('unchanged');
    const unit = parseUnit(readFileSync(join(xdg, 'systemd', 'user', 'orch-node.service'), 'utf8'));
    expect(words(unit.Service.ExecStart[0]).slice(-2)).toEqual(['node', 'start']);
    expect(unit.Service.Environment.flatMap(words)).toEqual(expect.arrayContaining(['ORCH_COORDINATOR=10.1.2.3:7400', 'ORCH_NATS_URL=nats://10.1.2.3:4222']));
  });

  it('the macOS launchd agent is a valid property list with the same command and environment', async () => {
    const r = await h.run(['service', 'install', 'serve', '--platform', 'launchd', '--print'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const plistFile = join(h.dir, 'dev.orch.serve.plist');
    writeFileSync(plistFile, r.stdout);
    const parsed = await new Promise<string>((res, rej) => execFile('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', plistFile],
      (err, out, se) => (err ? rej(new Error(se)) : res(String(out)))));
    const plist = JSON.parse(parsed) as { Label: string; ProgramArguments: string[]; EnvironmentVariables: Record<string, string>; StandardErrorPath: string; KeepAlive: unknown };
    expect(plist.Label).toBe('dev.orch.serve');
    expect(plist.ProgramArguments).toEqual([process.execPath, realpathSync(ORCH_BIN), 'serve']);
    expect(plist.EnvironmentVariables.ORCH_HOME).toBe(env().ORCH_HOME);
    expect(plist.StandardErrorPath).toBe(join(env().ORCH_HOME, 'logs', 'serve.log'));
    expect(plist.KeepAlive).toEqual({ SuccessfulExit: false });
  });

  it('start and status where no systemd user manager runs: a clear message naming the unit, nothing started', async () => {
    const s = await h.run(['service', 'start'], { env: env() });
    expect(s.code).not.toBe(0);
    expect(s.stderr).toMatch(/^orch: systemd's user manager is not running for this user .*The unit is in .*orch-serve\.service.*orch serve/m);
    const st = await h.run(['service', 'status', '--json'], { env: env() });
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ name: 'orch-serve.service', installed: true, manager: 'systemd', problem: expect.stringMatching(/user manager is not running/) });
    const stop = await h.run(['service', 'stop', 'node'], { env: { ...env(), XDG_CONFIG_HOME: join(h.dir, 'empty') } });
    expect(stop.stderr).toMatch(/orch-node\.service is not installed/);
  });
});
