// `orch serve`: the coordinator. With no database.url and no nats.url it is the
// embedded default: embedded PostgreSQL under $ORCH_HOME, an in-process bus and
// one local agent-node, all in this process. Several `orch serve` on one PostgreSQL:
// one leads, the others wait as standbys and take over when it dies (leadership.ts).
// Each term of leadership gets a fresh Coordinator rebuilt from the store.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { CommandModule } from 'yargs';
import { AgentNode } from '../../agent-node/node.js';
import { Coordinator } from '../../coordinator/coordinator.js';
import { startGrpcServer, type GrpcServer } from '../../coordinator/grpc/server.js';
import { Leadership } from '../../coordinator/leadership.js';
import { openDatabase } from '../../coordinator/store/database.js';
import { Store } from '../../coordinator/store/store.js';
import type { Bus } from '../../runtime/bus/bus.js';
import { LocalBus } from '../../runtime/bus/local.js';
import { NatsBus } from '../../runtime/bus/nats.js';
import { loadGlobalConfig, watchConfig } from '../../runtime/config/index.js';
import { logger, surviveUnhandledRejections, type Level } from '../../runtime/log.js';
import { OrchPaths, orchHome } from '../../runtime/paths.js';
import { isLoopbackListen, resolveToken } from '../../runtime/grpc-auth.js';
import { logToRotatingFile } from '../../runtime/log-file.js';
import { initTelemetry, telemetry } from '../../runtime/telemetry/index.js';
import { registerSecret } from '../../runtime/redact.js';
import { Authority } from '../../coordinator/tls/authority.js';
import { Identities } from '../../coordinator/identities.js';
import { ClusterCaStore, IdentityStore } from '../../coordinator/store/identities.js';
import { formatJoinToken, secretOf } from '../../runtime/tls/join-token.js';
import { CliError } from '../client.js';
import { startProgress } from '../progress.js';
import { applyLogFormat, applyLogLevel, logOptions, type LogArgs } from '../log-options.js';
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
  /** --log-level (over log.level in config.yml). */
  logLevel?: Level;
}

export interface Serving {
  /** The gRPC address ('' while this coordinator is a standby). */
  address: string;
  role: 'leader' | 'standby';
  stop: () => Promise<void>;
}

export async function serve(args: ServeArgs): Promise<Serving> {
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
  // What `orch log` reads: this process's log records, also in $ORCH_HOME/logs/coordinator.log.
  const stopLogFile = logToRotatingFile(paths.coordinatorLog);
  applyLogLevel(args, config.log?.level as Level | undefined);
  for (const w of warnings) log.warn(w);

  await initTelemetry('orch-coordinator', config.telemetry);
  const databaseUrl = args.databaseUrl ?? process.env.ORCH_DATABASE_URL ?? config.database?.url;
  const natsUrl = args.natsUrl ?? process.env.ORCH_NATS_URL ?? config.nats?.url;
  // A join token given to a coordinator (one env shared with its nodes) sets the secret part.
  const token = secretOf(resolveToken(args.token, config.cluster?.token));
  registerSecret(token);
  const readToken = config.cluster?.read_token;
  registerSecret(readToken);
  registerSecret(config.nats?.token);
  registerSecret(config.nats?.password);
  const embedded = !natsUrl && !databaseUrl;
  const listen = args.listen ?? config.server?.listen ?? '127.0.0.1:0';
  // A coordinator reachable from other hosts hands out work and secrets' effects: never without a token.
  if (!token && !isLoopbackListen(listen)) {
    throw new CliError(`refusing to serve on ${listen} without a cluster token: set cluster.token in config.yml (or ORCH_TOKEN / ORCH_TOKEN_FILE), or listen on 127.0.0.1`);
  }
  // A fleet (a database or bus outside this process, or an address beyond loopback) gets TLS
  // only: a CA and server certificate under $ORCH_HOME/tls, made at first start.
  const useTls = !embedded || !isLoopbackListen(listen);
  if (useTls && !token) {
    throw new CliError('fleet mode needs a cluster token (nodes enrol with it): set cluster.token in config.yml, or ORCH_TOKEN / ORCH_TOKEN_FILE; nodes and CLIs then join with the token `orch cluster token` prints');
  }
  if (readToken && readToken === token) throw new CliError('cluster.read_token must differ from cluster.token (config.yml)');

  // On a terminal the first start (initdb, a few seconds) shows a spinner; elsewhere only the log lines.
  const progress = startProgress(databaseUrl ? 'connecting to PostgreSQL' : existsSync(paths.pgData) ? 'starting the embedded PostgreSQL' : 'initialising the embedded PostgreSQL (first start)');
  const db = await openDatabase({ url: databaseUrl, dataDir: paths.pgData, log: (m) => { progress.clear(); log.info(m); } })
    .catch((err: unknown) => { progress.fail('PostgreSQL did not start'); throw err; });
  progress.done(`PostgreSQL ready: ${db.description}`);
  const authority = useTls
    ? await Authority.open(paths.home, [listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '')], new ClusterCaStore(db.pool, token)).catch(async (err) => { await db.close(); throw err; })
    : undefined;
  const cleanups: Array<() => Promise<void>> = [async () => stopLogFile(), () => db.close()];
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((err) => log.warn('shutdown step failed', { err }));
  };
  try {
    const bus: Bus = natsUrl
      ? await NatsBus.connect({ url: natsUrl, token: config.nats?.token, user: config.nats?.user, password: config.nats?.password, credsFile: config.nats?.creds, tlsCa: config.nats?.tls_ca, name: 'orch-coordinator' })
      : new LocalBus();
    cleanups.push(() => bus.close());
    let current = config;
    let coordinator: Coordinator | undefined;
    let server: GrpcServer | undefined;
    let leadership: Leadership | undefined;
    let bound = listen;
    let stopping = false;
    const abort = new AbortController();
    const holder = `${hostname()} pid ${process.pid}`;
    const unwatch = watchConfig(paths.config, (c) => {
      current = c;
      void coordinator?.reloadConfig(c).catch((err) => log.error('config reload failed; keeping the previous config', { err }));
    }, (err) => log.error(`config.yml not reloaded, keeping the previous config: ${err.message}`));
    cleanups.push(async () => unwatch());
    cleanups.push(async () => {
      stopping = true;
      abort.abort();
      await server?.stop();
      await coordinator?.stop();
      await leadership?.release();
      rmSync(paths.coordinatorFile, { force: true });
    });

    /** One term of leadership: a coordinator rebuilt from the store, serving on the same address as before. */
    const lead = async (l: Leadership): Promise<void> => {
      leadership = l;
      const store = new Store(db.pool);
      store.fence(l.epoch);
      const identities = authority ? new Identities(new IdentityStore(db.pool), authority) : undefined;
      const c = new Coordinator({ paths, config: current, db, store, bus, epoch: l.epoch,
        nodeTtlMs: args.nodeTtlMs ?? current.cluster.node_timeout_seconds * 1000,
        assignTimeoutMs: current.cluster.assign_timeout_seconds * 1000,
        checkNodeCert: identities ? (name, der) => identities.check(name, der) : undefined,
        serverTls: authority ? { key: authority.serverKey, cert: authority.serverCert } : undefined });
      await c.start();
      coordinator = c;
      for (const id of (await identities?.list()) ?? []) if (id.revokedAt) c.registry.revoke(id.name);
      server = await startGrpcServer(c, bound, { version: VERSION, mode: embedded ? 'embedded' : 'fleet', token, access: { token, readToken, identities } }, authority?.serverCredentials());
      bound = server.address; // a later term listens where clients already look
      // Whole or not at all: a CLI reading it meanwhile never sees half of it.
      const tmp = `${paths.coordinatorFile}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ address: server.address, pid: process.pid, startedAt: new Date().toISOString(), epoch: l.epoch, caFingerprint: authority?.fingerprint }) + '\n');
      renameSync(tmp, paths.coordinatorFile);
      log.info('coordinator listening', { address: server.address, database: db.description, bus: bus.description, mode: embedded ? 'embedded' : 'fleet', epoch: l.epoch });
      l.onLost((why) => {
        if (stopping) return;
        log.error('leadership lost: stopping work until it is won back', { why });
        void (async () => {
          const [s, old] = [server, coordinator];
          server = undefined;
          coordinator = undefined;
          await s?.stop().catch(() => undefined);
          await old?.stop().catch(() => undefined);
          if (!stopping) await campaign().catch((err) => log.error('leadership campaign ended', { err }));
        })();
      });
    };
    const failoverMs = current.cluster.failover_seconds * 1000;
    const acquire = (onStandby?: (holder: string) => void) => Leadership.acquire({ client: db.clientConfig, holder, failoverMs, onStandby }, abort.signal);
    const campaign = async () => lead(await acquire());

    // Lead now, or say we are a standby and keep campaigning in the background.
    let standby!: (holder: string) => void;
    const standingBy = new Promise<string>((r) => { standby = r; });
    const first = acquire(standby);
    const startNode = async () => {
      if (!(args.node ?? embedded) || !server) return;
      const node = await AgentNode.start({
        home: paths.home, name: config.node?.name || hostname(), slots: config.node?.slots ?? 4, config,
        coordinator: server.address, token: authority && token ? formatJoinToken({ caFingerprint: authority.fingerprint, secret: token }) : token, bus, labels: config.node?.labels ?? [],
        heartbeatMs: config.cluster.heartbeat_seconds * 1000, nodeTtlMs: config.cluster.node_timeout_seconds * 1000,
        restartGraceMs: config.cluster.restart_grace_seconds * 1000,
      });
      cleanups.push(() => node.stop());
    };
    const won = await Promise.race([first, standingBy]);
    if (won instanceof Leadership) {
      await lead(won);
      await startNode();
      return { address: server!.address, role: 'leader', stop: stopAll };
    }
    log.info('standby: another coordinator leads; taking over when it stops', { leader: won });
    void first.then(async (l) => { await lead(l); await startNode(); }).catch((err) => { if (!stopping) log.error('standby campaign ended', { err }); });
    return { address: '', role: 'standby', stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export const serveCommand: CommandModule = {
  command: 'serve',
  describe: 'Run the coordinator (embedded PostgreSQL, bus and local node unless configured otherwise)',
  builder: (y) => logOptions(y)
    .option('listen', { type: 'string', describe: 'gRPC HOST:PORT (default server.listen or 127.0.0.1:0)' })
    .option('database-url', { type: 'string', describe: 'PostgreSQL URL (default database.url or embedded)' })
    .option('nats-url', { type: 'string', describe: 'NATS URL (default nats.url or in-process bus)' })
    .option('node', { type: 'boolean', describe: 'Also run a local agent-node (default: only in embedded mode)' }),
  handler: async (argv) => {
    const a = argv as unknown as ServeArgs & LogArgs & { databaseUrl?: string; natsUrl?: string };
    applyLogFormat(a);
    surviveUnhandledRejections();
    const s = await serve(a);
    process.stdout.write(s.role === 'leader' ? `orch coordinator listening on ${s.address}\n` : 'orch coordinator standing by (another coordinator leads; this one takes over when it stops)\n');
    let stopping = false;
    const shutdown = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { signal: sig });
      const hard = setTimeout(() => process.exit(1), 20_000);
      hard.unref();
      void s.stop().then(() => telemetry().shutdown()).then(() => process.exit(0));
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    await new Promise(() => undefined); // run until a signal
  },
};
