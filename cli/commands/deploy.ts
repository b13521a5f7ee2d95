// `orch node deploy USER@HOST` and `orch node remove NAME` (logic in cli/deploy/).
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { loadGlobalConfig } from '../../runtime/config/index.js';
import { resolveToken } from '../../runtime/grpc-auth.js';
import { orchHome } from '../../runtime/paths.js';
import { redact, registerSecret } from '../../runtime/redact.js';
import { CliError, withApi, type GlobalArgs } from '../client.js';
import { printJson } from '../format.js';
import { deployNode, sayer } from '../deploy/deploy.js';
import { removeNode } from '../deploy/remove.js';
import { knownHostsFile, parseTarget } from '../deploy/ssh.js';

interface DeployArgs extends GlobalArgs {
  target: string;
  name?: string;
  slots?: number;
  identity?: string;
  port: number;
  'accept-new-host-key': boolean;
  'known-hosts'?: string;
  'orch-home'?: string;
  nats?: string;
  'node-config'?: string;
  'from-registry'?: string;
  wait: number;
}

interface RemoveArgs extends GlobalArgs {
  name: string;
  purge: boolean;
  'drain-seconds': number;
  identity?: string;
}

/** The cluster token the way every command finds it; registered so no output shows it. */
async function clusterToken(args: GlobalArgs, required = true): Promise<string> {
  const { config } = await loadGlobalConfig(orchHome());
  const token = resolveToken(args.token, config.cluster?.token);
  if (!token && !required) return '';
  if (!token) throw new CliError('deploy needs the cluster token the node will present: set ORCH_TOKEN_FILE (a 0600 file) or ORCH_TOKEN, or cluster.token in config.yml', 2);
  registerSecret(token);
  return token;
}

/** Errors carry remote output (a command's stderr, a log tail): redacted like every other line shown. */
async function redactingErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Error) err.message = redact(err.message);
    throw err;
  }
}

export function nodeDeployCommands(y: Argv): Argv {
  return y
    .command('deploy <target>', 'Set up an agent-node on USER@HOST over SSH and wait until it has joined', (a) => a
      .positional('target', { type: 'string', demandOption: true, describe: 'USER@HOST to deploy to' })
      .option('name', { type: 'string', describe: 'Node name (default: the host\'s short hostname)' })
      .option('slots', { type: 'number', describe: 'Attempts the node runs at once (default node.slots there, or 4)' })
      .option('identity', { alias: 'i', type: 'string', describe: 'SSH private key (default ~/.ssh/id_ed25519, id_ecdsa, id_rsa, or the ssh-agent)' })
      .option('port', { alias: 'p', type: 'number', default: 22, describe: 'SSH port' })
      .option('accept-new-host-key', { type: 'boolean', default: false, describe: 'Trust an unknown host key and record it (a changed key is always refused)' })
      .option('known-hosts', { type: 'string', describe: 'known_hosts file (default ~/.ssh/known_hosts)' })
      .option('orch-home', { type: 'string', describe: 'ORCH_HOME on the host, absolute (default $HOME/.orch of the SSH user)' })
      .option('nats', { type: 'string', describe: 'NATS URL as the host reaches it (default: the coordinator\'s)' })
      .option('node-config', { type: 'string', describe: 'YAML file merged into the node\'s config.yml (agents, tmux, labels...)' })
      .option('from-registry', { type: 'string', describe: 'Install this npm package spec with npm on the host instead of copying the offline bundle' })
      .option('wait', { type: 'number', default: 90, describe: 'Seconds to wait for the node to register' }),
    async (argv) => {
      const args = argv as unknown as DeployArgs;
      if (args.slots !== undefined && (!Number.isInteger(args.slots) || args.slots < 1)) throw new CliError(`--slots must be a positive integer, got ${args.slots}`, 2);
      if (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535) throw new CliError(`--port must be 1-65535, got ${args.port}`, 2);
      const token = await clusterToken(args);
      const { user, host } = parseTarget(args.target);
      const say = sayer((s) => process.stderr.write(s));
      const rec = await redactingErrors(() => withApi(args, (api) => deployNode(api, {
        // Absolute paths: the deploy record keeps them for `orch node remove`, run from anywhere.
        target: { user, host, port: args.port, identity: args.identity && resolve(args.identity), knownHosts: resolve(knownHostsFile(args['known-hosts'])), acceptNewHostKey: args['accept-new-host-key'] },
        name: args.name, slots: args.slots, orchHome: args['orch-home'], natsUrl: args.nats, nodeConfigFile: args['node-config'],
        fromRegistry: args['from-registry'], waitSeconds: args.wait, token, localDir: `${orchHome()}/deploy`,
      }, say)));
      if (args.json) return printJson({ name: rec.name, host: rec.host, orch_home: rec.orchHome, service: rec.service.kind, installed: rec.installed, seconds: rec.seconds });
      process.stdout.write(`node ${rec.name} deployed on ${user}@${host} in ${rec.seconds.toFixed(1)} s (${rec.service.kind === 'supervised' ? 'supervised process, no systemd' : `systemd ${rec.service.unit}`}); undo with \`orch node remove ${rec.name}\`\n`);
    })
    .command('remove <name>', 'Undo `orch node deploy`: drain, stop, uninstall, forget the node', (a) => a
      .positional('name', { type: 'string', demandOption: true })
      .option('purge', { type: 'boolean', default: false, describe: 'Also remove the node\'s repos, worktrees and task state on the host' })
      .option('drain-seconds', { type: 'number', default: 600, describe: 'How long running attempts may take to finish (0: stop at once)' })
      .option('identity', { alias: 'i', type: 'string', describe: 'SSH private key (default: the one used to deploy)' }),
    async (argv) => {
      const args = argv as unknown as RemoveArgs;
      await clusterToken(args, false); // registered for redaction: remove reads the host's config.yml
      const say = sayer((s) => process.stderr.write(s));
      await redactingErrors(() => withApi(args, (api) => removeNode(api, { name: args.name, localDir: `${orchHome()}/deploy`, purge: args.purge, drainSeconds: args['drain-seconds'], identity: args.identity && resolve(args.identity) }, say)));
      if (args.json) printJson({ removed: args.name });
    });
}
