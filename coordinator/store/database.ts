// Opening the task store's database: a PostgreSQL server given by URL (fleet mode), or the
// embedded one under $ORCH_HOME/pg (one machine, zero set-up). Either way the schema is
// migrated before the pool is handed out.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { EmbeddedPostgres } from './embedded.js';
import { DatabaseUnavailableError } from './errors.js';
import { migrate } from './migrate.js';

export interface Database {
  pool: pg.Pool;
  /** 'embedded (<dataDir>)' or 'host:port/db', never with credentials. */
  description: string;
  /** Ends the pool, then stops the embedded server (fast shutdown). Idempotent. */
  close(): Promise<void>;
  /** How to open a connection of one's own (the leadership lock holds one). */
  clientConfig: pg.ClientConfig;
}

export interface OpenDatabaseOptions {
  /** postgres://… of a server; without it the embedded server is used. */
  url?: string;
  /** The embedded cluster's directory ($ORCH_HOME/pg/data); created on first use. */
  dataDir: string;
  log?: (msg: string) => void;
  /** Embedded only: the data is thrown away afterwards (tests), so skip fsync. */
  ephemeral?: boolean;
}

const POOL_DEFAULTS: pg.PoolConfig = {
  application_name: 'orch-coordinator',
  // Fail a query that cannot get a connection instead of hanging the caller forever.
  connectionTimeoutMillis: 15_000,
};

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const log = opts.log ?? (() => {});
  if (opts.url) {
    const description = describeUrl(opts.url);
    const clientConfig: pg.ClientConfig = { ...POOL_DEFAULTS, connectionString: opts.url };
    const pool = new pg.Pool(clientConfig);
    return ready(pool, clientConfig, description, log, async () => {});
  }
  const server = await EmbeddedPostgres.start({ dataDir: opts.dataDir, log, ephemeral: opts.ephemeral });
  const clientConfig: pg.ClientConfig = { ...POOL_DEFAULTS, ...server.connection() };
  const pool = new pg.Pool(clientConfig);
  return ready(pool, clientConfig, `embedded (${server.dataDir})`, log, () => server.stop());
}

/** Check the connection and migrate; on failure release everything before throwing. */
async function ready(pool: pg.Pool, clientConfig: pg.ClientConfig, description: string, log: (msg: string) => void, stopServer: () => Promise<void>): Promise<Database> {
  // An idle client losing its connection (server restart, network) must not crash the process.
  pool.on('error', (err) => log(`PostgreSQL connection at ${description} lost: ${reason(err)}`));
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= endPool(pool).then(stopServer);
    return closing;
  };
  try {
    try {
      const client = await pool.connect();
      client.release();
    } catch (err) {
      throw new DatabaseUnavailableError(`cannot connect to PostgreSQL at ${description}: ${reason(err)}`);
    }
    await migrate(pool, { log });
  } catch (err) {
    await close();
    throw err;
  }
  return { pool, description, close, clientConfig };
}

/**
 * End the pool and wait (briefly) until its sockets have closed: pool.end() resolves before
 * that, and a server stopped in between would terminate them with an error.
 */
async function endPool(pool: pg.Pool): Promise<void> {
  let open = pool.totalCount;
  const closed = new Promise<void>((done) => {
    if (open === 0) return done();
    pool.on('remove', () => { if (--open <= 0) done(); });
  });
  await pool.end().catch(() => {});
  await Promise.race([closed, sleep(2_000, undefined, { ref: false })]);
}

/** host:port/db of a connection URL (pg's own parsing, so PG* defaults apply too). */
function describeUrl(url: string): string {
  try {
    const c = new pg.Client({ connectionString: url });
    return `${c.host}:${c.port}/${c.database ?? ''}`;
  } catch (err) {
    throw new DatabaseUnavailableError(`database.url is not a PostgreSQL connection URL: ${reason(err)}`);
  }
}

/** A one-line reason; connection refusals arrive as an AggregateError with an empty message. */
function reason(err: unknown): string {
  const e = err as Error & { code?: string; errors?: Error[] };
  return e?.message || e?.errors?.[0]?.message || e?.code || String(err);
}
