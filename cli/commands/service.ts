// `orch service install|start|stop|status [serve|node]`: run orch in the background under
// the user's service manager: a systemd user unit on Linux, a launchd agent on macOS.
// The unit runs this very node and orch (absolute paths) with this ORCH_HOME and PATH.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { orchHome } from '../../runtime/paths.js';
import { CliError, type GlobalArgs } from '../client.js';
import { printJson } from '../format.js';
import { renderUnit, unitName, type ServicePlatform, type ServiceRole, type ServiceUnit } from '../service/units.js';

type Args = GlobalArgs & { role?: ServiceRole; platform?: ServicePlatform; print?: boolean; nats?: string };

function platformOf(args: Args): ServicePlatform {
  if (args.platform) return args.platform;
  if (process.platform === 'darwin') return 'launchd';
  if (process.platform === 'linux') return 'systemd';
  throw new CliError(`orch service supports Linux (systemd) and macOS (launchd), not ${process.platform}: run \`orch serve\` under your own supervisor`);
}

/** Where the service manager reads user units from. */
export function serviceDir(platform: ServicePlatform, env: NodeJS.ProcessEnv = process.env): string {
  if (platform === 'launchd') return join(homedir(), 'Library', 'LaunchAgents');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'systemd', 'user');
}

function orchEntry(): string {
  const script = process.argv[1];
  if (!script) throw new CliError('cannot tell where the orch command lives (no script path in argv)');
  return realpathSync(script);
}

function unitFor(args: Args): ServiceUnit {
  const role = args.role ?? 'serve';
  const env: Record<string, string> = {};
  const coordinator = args.coordinator ?? process.env.ORCH_COORDINATOR;
  if (coordinator) env.ORCH_COORDINATOR = coordinator;
  const nats = args.nats ?? process.env.ORCH_NATS_URL;
  if (nats) env.ORCH_NATS_URL = nats;
  if (process.env.ORCH_TOKEN_FILE) env.ORCH_TOKEN_FILE = process.env.ORCH_TOKEN_FILE; // a path, not the secret
  return renderUnit(platformOf(args), {
    role, nodeBin: process.execPath, orchBin: orchEntry(), orchHome: orchHome(), path: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', env, args: [],
  });
}

interface Ran { code: number; out: string; err: string; missing: boolean }
function run(cmd: string, argv: string[]): Ran {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { code: r.status ?? 1, out: r.stdout ?? '', err: (r.stderr ?? '').trim(), missing };
}

/** systemctl --user works here, or a message saying why not and what to do instead. */
function systemdProblem(file: string): string | undefined {
  const r = run('systemctl', ['--user', 'show-environment']);
  if (r.missing) return `systemctl was not found: this machine does not run systemd. The unit is in ${file}; run \`orch serve\` under your own supervisor instead`;
  if (r.code !== 0) {
    return `systemd's user manager is not running for this user (systemctl --user: ${r.err || `exit ${r.code}`}); ` +
      `this happens in containers and in sessions without a login manager. The unit is in ${file}; ` +
      'log in through a normal session or run `loginctl enable-linger $USER` as root, then `orch service start` again; or run `orch serve` yourself';
  }
  return undefined;
}

function install(args: Args, quiet = false): { unit: ServiceUnit; file: string } {
  const unit = unitFor(args);
  const dir = serviceDir(unit.platform);
  const file = join(dir, unit.file);
  mkdirSync(dir, { recursive: true });
  const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  writeFileSync(file, unit.text, { mode: 0o644 });
  if (unit.platform === 'systemd' && before !== unit.text && !systemdProblem(file)) run('systemctl', ['--user', 'daemon-reload']);
  if (unit.platform === 'launchd') mkdirSync(join(orchHome(), 'logs'), { recursive: true });
  if (!quiet) {
    process.stdout.write(`${before === undefined ? 'wrote' : before === unit.text ? 'unchanged' : 'updated'} ${file}\n`);
    if ((args.role ?? 'serve') === 'node' && !unit.text.includes('ORCH_COORDINATOR')) {
      process.stdout.write(`the node needs the coordinator's address: reinstall with --coordinator HOST:PORT, or put ORCH_COORDINATOR=… in ${join(orchHome(), 'service.env')}\n`);
    }
    process.stdout.write(`start it with: orch service start ${args.role ?? 'serve'}\n`);
  }
  return { unit, file };
}

function start(args: Args): void {
  const { unit, file } = install(args, true);
  if (unit.platform === 'systemd') {
    const problem = systemdProblem(file);
    if (problem) throw new CliError(problem);
    const r = run('systemctl', ['--user', 'enable', '--now', unit.name]);
    if (r.code !== 0) throw new CliError(`systemctl --user enable --now ${unit.name} failed: ${r.err}; see \`journalctl --user -u ${unit.name}\``);
  } else {
    const r = run('launchctl', ['bootstrap', `gui/${process.getuid?.() ?? 0}`, file]);
    if (r.missing) throw new CliError('launchctl was not found: orch service on macOS needs launchd');
    if (r.code !== 0 && !/already|in progress/i.test(r.err)) throw new CliError(`launchctl bootstrap ${file} failed: ${r.err}`);
  }
  process.stdout.write(`started ${unit.name} (${file})\n`);
}

function stop(args: Args): void {
  const platform = platformOf(args);
  const name = unitName(platform, args.role ?? 'serve');
  const file = join(serviceDir(platform), platform === 'systemd' ? name : `${name}.plist`);
  if (!existsSync(file)) throw new CliError(`${name} is not installed (no ${file}): nothing to stop`);
  if (platform === 'systemd') {
    const problem = systemdProblem(file);
    if (problem) throw new CliError(problem);
    const r = run('systemctl', ['--user', 'stop', name]);
    if (r.code !== 0) throw new CliError(`systemctl --user stop ${name} failed: ${r.err}`);
  } else {
    const r = run('launchctl', ['bootout', `gui/${process.getuid?.() ?? 0}/${name}`]);
    if (r.code !== 0 && !/not find|no such/i.test(r.err)) throw new CliError(`launchctl bootout ${name} failed: ${r.err}`);
  }
  process.stdout.write(`stopped ${name}; agent sessions keep running in tmux and are resumed at the next start\n`);
}

function status(args: Args): void {
  const platform = platformOf(args);
  const name = unitName(platform, args.role ?? 'serve');
  const file = join(serviceDir(platform), platform === 'systemd' ? name : `${name}.plist`);
  const s: Record<string, unknown> = { name, file, installed: existsSync(file), manager: platform };
  if (platform === 'systemd') {
    const problem = systemdProblem(file);
    if (problem) s.problem = problem;
    else {
      const r = run('systemctl', ['--user', 'show', name, '-p', 'ActiveState,SubState,MainPID,UnitFileState']);
      const kv = Object.fromEntries(r.out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      Object.assign(s, { active: kv.ActiveState ?? 'unknown', sub: kv.SubState ?? '', pid: Number(kv.MainPID ?? 0), enabled: kv.UnitFileState ?? '' });
    }
  } else {
    const r = run('launchctl', ['print', `gui/${process.getuid?.() ?? 0}/${name}`]);
    if (r.missing) s.problem = 'launchctl was not found';
    else Object.assign(s, { active: r.code === 0 ? (/state = (\w+)/.exec(r.out)?.[1] ?? 'loaded') : 'not loaded', pid: Number(/pid = (\d+)/.exec(r.out)?.[1] ?? 0) });
  }
  if (args.json) return printJson(s);
  const lines = [`${name}: ${s.installed ? 'installed' : 'not installed'} (${file})`];
  if (s.problem) lines.push(`state unknown: ${s.problem}`);
  else lines.push(`state: ${s.active}${s.sub ? ` (${s.sub})` : ''}${s.pid ? `, pid ${s.pid}` : ''}${s.enabled ? `, ${s.enabled}` : ''}`);
  process.stdout.write(lines.join('\n') + '\n');
}

export function serviceCommands(y: Argv): Argv {
  const role = <T>(a: Argv<T>) => a
    .positional('role', { choices: ['serve', 'node'] as const, default: 'serve', describe: 'serve (the coordinator) or node (an agent-node)' })
    .option('platform', { choices: ['systemd', 'launchd'] as const, hidden: true, describe: 'Service manager (default: systemd on Linux, launchd on macOS)' });
  return y
    .command('install [role]', 'Write the service definition (systemd user unit / launchd agent) for serve or node', (a) => role(a)
      .option('print', { type: 'boolean', describe: 'Print it instead of writing it' })
      .option('nats', { type: 'string', describe: 'node: the NATS URL (ORCH_NATS_URL in the unit)' }),
    (argv) => {
      const args = argv as unknown as Args;
      if (args.print) return void process.stdout.write(unitFor(args).text);
      install(args);
    })
    .command('start [role]', 'Install if needed, enable and start the service', (a) => role(a).option('nats', { type: 'string', hidden: true }), (argv) => start(argv as unknown as Args))
    .command('stop [role]', 'Stop the service (agent sessions keep running in tmux)', role, (argv) => stop(argv as unknown as Args))
    .command('status [role]', 'Is the service installed and running', role, (argv) => status(argv as unknown as Args))
    .demandCommand(1, 'name a service command: install, start, stop, status');
}
