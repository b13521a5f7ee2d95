// `orch node start`: an agent-node as its own process (its own ORCH_HOME), taking
// assignments from NATS and reporting to the coordinator over gRPC.
import { hostname } from 'node:os';
import type { Argv } from 'yargs';
import { AgentNode } from '../../agent-node/node.js';
import { NatsBus } from '../../runtime/bus/nats.js';
import { loadGlobalConfig } from '../../runtime/config/index.js';
import { logger, surviveUnhandledRejections, type Level } from '../../runtime/log.js';
import { orchHome } from '../../runtime/paths.js';
import { resolveToken } from '../../runtime/grpc-auth.js';
import { initTelemetry, telemetry } from '../../runtime/telemetry/index.js';
import { registerSecret } from '../../runtime/redact.js';
import { secretOf } from '../../runtime/tls/join-token.js';
import { CliError } from '../client.js';
import { applyLogFormat, applyLogLevel, logOptions, type LogArgs } from '../log-options.js';

const log = logger('node-cmd');

interface NodeArgs {
  coordinator?: string;
  nats?: string;
  token?: string;
  slots?: number;
  name?: string;
  labels?: string;
}

export function nodeStartCommand(y: Argv): Argv {
  return y.command('start', 'Run an agent-node on this machine', (a) => logOptions(a)
    .option('nats', { type: 'string', describe: 'NATS URL (default nats.url in config or ORCH_NATS_URL)' })
    .option('slots', { type: 'number', describe: 'Attempts this node runs at once (default node.slots or 4)' })
    .option('name', { type: 'string', describe: 'Node name (default node.name or the hostname)' })
    .option('labels', { type: 'string', describe: 'Comma-separated node labels' }),
  async (argv) => {
    const args = argv as unknown as NodeArgs & LogArgs;
    applyLogFormat(args);
    surviveUnhandledRejections();
    const home = orchHome();
    const { config, warnings } = await loadGlobalConfig(home);
    applyLogLevel(args, config.log?.level as Level | undefined);
    for (const w of warnings) log.warn(w);
    const coordinator = args.coordinator ?? process.env.ORCH_COORDINATOR ?? config.node?.coordinator;
    if (!coordinator) throw new CliError('orch node start needs --coordinator HOST:PORT (or ORCH_COORDINATOR, or node.coordinator in config.yml)');
    const natsUrl = args.nats ?? process.env.ORCH_NATS_URL ?? config.nats?.url;
    if (!natsUrl) throw new CliError('orch node start needs --nats URL (or nats.url in config.yml, or ORCH_NATS_URL)');
    const slots = args.slots ?? config.node?.slots ?? 4;
    if (!Number.isInteger(slots) || slots < 1) throw new CliError(`--slots must be a positive integer, got ${args.slots}`);
    // A plain token (plaintext gRPC) or the join token from `orch cluster token` (TLS, enrolment).
    const token = resolveToken(args.token, config.cluster?.token);
    registerSecret(token);
    try {
      registerSecret(secretOf(token));
    } catch (err) {
      throw new CliError(`cluster token: ${(err as Error).message}`);
    }
    const name = args.name ?? config.node?.name ?? hostname();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new CliError(`node name "${name}" must be 1-64 letters, digits, - or _ (set --name or node.name)`);
    await initTelemetry('orch-node', config.telemetry);
    const bus = await NatsBus.connect({ url: natsUrl, token: config.nats?.token, user: config.nats?.user, password: config.nats?.password, credsFile: config.nats?.creds, tlsCa: config.nats?.tls_ca, name: `orch-node-${name}` });
    const node = await AgentNode.start({
      home, name, slots, config, coordinator, token, bus,
      labels: args.labels ? args.labels.split(',').map((s) => s.trim()).filter(Boolean) : config.node?.labels ?? [],
      heartbeatMs: config.cluster.heartbeat_seconds * 1000, nodeTtlMs: config.cluster.node_timeout_seconds * 1000,
      restartGraceMs: config.cluster.restart_grace_seconds * 1000,
    });
    process.stdout.write(`orch agent-node ${name} running (${slots} slots)\n`);
    let stopping = false;
    const shutdown = () => {
      if (stopping) return;
      stopping = true;
      const hard = setTimeout(() => process.exit(1), 15_000);
      hard.unref();
      void node.stop().then(() => bus.close()).then(() => telemetry().shutdown()).then(() => process.exit(0));
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
    await new Promise(() => undefined);
  });
}
