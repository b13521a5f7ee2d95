// `orch serve`: the coordinator. With no database.url and no nats.url it is the
// embedded default: embedded PostgreSQL under $ORCH_HOME, an in-process bus and
// one local agent-node, all in this process.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { CommandModule } from 'yargs';
import { AgentNode } from '../../agent-node/node.js';
import { Coordinator } from '../../coordinator/coordinator.js';
import { startGrpcServer } from '../../coordinator/grpc/server.js';
import { openDatabase } from '../../coordinator/store/database.js';
import { Store } from '../../coordinator/store/store.js';
import type { Bus } from '../../runtime/bus/bus.js';
import { LocalBus } from '../../runtime/bus/local.js';
import { NatsBus } from '../../runtime/bus/nats.js';
import { loadGlobalConfig, watchConfig } from '../../runtime/config/index.js';
import { logger, setLogLevel, type Level } from '../../runtime/log.js';
import { OrchPaths, orchHome } from '../../runtime/paths.js';
import { registerSecret } from '../../runtime/redact.js';
import { CliError } from '../client.js';
import { VERSION } from '../version.js';

const log = logger('serve');

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export interface ServeArgs {
  listen?: string;
  databaseUrl?: string;
  natsUrl?: string;
  token?: string;
  node?: boolean;
  nodeTtlMs?: number;
}

export async function serve(args: ServeArgs): Promise<{ address: string; stop: () => Promise<void> }> {
  const paths = new OrchPaths(orchHome());
  mkdirSync(paths.runDir, { recursive: true });
  if (existsSync(paths.coordinatorFile)) {
    try {
      const prev = JSON.parse(readFileSync(paths.coordinatorFile, 'utf8')) as { pid: number; address: string };
      if (prev.pid !== process.pid && pidAlive(prev.pid)) {
        throw new CliError(`a coordinator already runs for ORCH_HOME=${paths.home} (pid ${prev.pid}, ${prev.address})`);
      }
    } catch (err) {
      if (err instanceof CliError) throw err;
    }
  }
  const { config, warnings } = await loadGlobalConfig(paths.home);
  setLogLevel((config.log?.level ?? 'info') as Level);
  for (const w of warnings) log.warn(w);

  const databaseUrl = args.databaseUrl ?? process.env.ORCH_DATABASE_URL ?? config.database?.url;
  const natsUrl = args.natsUrl ?? process.env.ORCH_NATS_URL ?? config.nats?.url;
  const token = args.token ?? process.env.ORCH_TOKEN ?? config.cluster?.token;
  registerSecret(token);
  registerSecret(config.nats?.token);
  registerSecret(config.nats?.password);
  const embedded = !natsUrl && !databaseUrl;
  const listen = args.listen ?? config.server?.listen ?? '127.0.0.1:0';

  const db = await openDatabase({ url: databaseUrl, dataDir: paths.pgData, log: (m) => log.info(m) });
  const cleanups: Array<() => Promise<void>> = [() => db.close()];
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((err) => log.warn('shutdown step failed', { err }));
  };
  try {
    const bus: Bus = natsUrl
      ? await NatsBus.connect({ url: natsUrl, token: config.nats?.token, user: config.nats?.user, password: config.nats?.password, credsFile: config.nats?.creds, name: 'orch-coordinator' })
      : new LocalBus();
    cleanups.push(() => bus.close());
    const coordinator = new Coordinator({ paths, config, db, store: new Store(db.pool), bus, nodeTtlMs: args.nodeTtlMs ?? config.cluster.node_timeout_seconds * 1000,
      assignTimeoutMs: config.cluster.assign_timeout_seconds * 1000 });
    await coordinator.start();
    cleanups.push(() => coordinator.stop());
    const unwatch = watchConfig(paths.config, (c) => {
      void coordinator.reloadConfig(c).catch((err) => log.error('config reload failed; keeping the previous config', { err }));
    }, (err) => log.error(`config.yml not reloaded, keeping the previous config: ${err.message}`));
    cleanups.push(async () => unwatch());
    const server = await startGrpcServer(coordinator, listen, { version: VERSION, mode: embedded ? 'embedded' : 'fleet', token });
    cleanups.push(() => server.stop());
    writeFileSync(paths.coordinatorFile, JSON.stringify({ address: server.address, pid: process.pid, startedAt: new Date().toISOString() }) + '\n');
    cleanups.push(async () => rmSync(paths.coordinatorFile, { force: true }));
    log.info('coordinator listening', { address: server.address, database: db.description, bus: bus.description, mode: embedded ? 'embedded' : 'fleet' });

    if (args.node ?? embedded) {
      const node = await AgentNode.start({
        home: paths.home, name: config.node?.name || hostname(), slots: config.node?.slots ?? 4, config,
        coordinator: server.address, token, bus, labels: config.node?.labels ?? [],
        heartbeatMs: config.cluster.heartbeat_seconds * 1000, nodeTtlMs: config.cluster.node_timeout_seconds * 1000,
      });
      cleanups.push(() => node.stop());
    }
    return { address: server.address, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export const serveCommand: CommandModule = {
  command: 'serve',
  describe: 'Run the coordinator (embedded PostgreSQL, bus and local node unless configured otherwise)',
  builder: (y) => y
    .option('listen', { type: 'string', describe: 'gRPC HOST:PORT (default server.listen or 127.0.0.1:0)' })
    .option('database-url', { type: 'string', describe: 'PostgreSQL URL (default database.url or embedded)' })
    .option('nats-url', { type: 'string', describe: 'NATS URL (default nats.url or in-process bus)' })
    .option('node', { type: 'boolean', describe: 'Also run a local agent-node (default: only in embedded mode)' }),
  handler: async (argv) => {
    const a = argv as unknown as ServeArgs & { databaseUrl?: string; natsUrl?: string };
    const s = await serve(a);
    process.stdout.write(`orch coordinator listening on ${s.address}\n`);
    let stopping = false;
    const shutdown = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { signal: sig });
      const hard = setTimeout(() => process.exit(1), 20_000);
      hard.unref();
      void s.stop().then(() => process.exit(0));
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    await new Promise(() => undefined); // run until a signal
  },
};
