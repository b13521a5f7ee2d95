// Schema migrations: numbered files `NNN_name.sql` in coordinator/store/migrations, applied
// in order, each in its own transaction and recorded in schema_migrations. Coordinators
// starting together serialise on a transaction-scoped advisory lock, so none is applied twice.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

export interface Migration {
  version: number;
  /** File name without `.sql`, e.g. `001_init`. */
  name: string;
  sql: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Keys of the advisory lock every migrating coordinator takes ('orch', 1). */
const LOCK_KEYS = [0x6f726368, 1] as const;
const FILE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;
const RELATIVE_DIR = join('coordinator', 'store', 'migrations');

/**
 * The migrations directory. The .sql files are not copied by tsc, so from
 * `dist/coordinator/store/` as well as from `coordinator/store/` (vitest) we walk up to
 * the package root (the first directory with a package.json) and look there.
 */
export function migrationsDir(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = resolve(dir, '..')) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, RELATIVE_DIR))) return join(dir, RELATIVE_DIR);
    if (resolve(dir, '..') === dir) throw new MigrationError(`cannot find ${RELATIVE_DIR} in the package above ${from}: is the orch install complete?`);
  }
}

export async function loadMigrations(dir = migrationsDir()): Promise<Migration[]> {
  const out: Migration[] = [];
  for (const file of (await readdir(dir)).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE.exec(file);
    if (!m) throw new MigrationError(`migration file ${join(dir, file)} is not named NNN_name.sql`);
    const version = Number(m[1]);
    const clash = out.find((x) => x.version === version);
    if (clash) throw new MigrationError(`migrations ${clash.name} and ${file} in ${dir} share version ${version}`);
    out.push({ version, name: file.slice(0, -'.sql'.length), sql: await readFile(join(dir, file), 'utf8') });
  }
  return out.sort((a, b) => a.version - b.version);
}

/** Bring the schema up to date. Returns the names of the migrations this call applied. */
export async function migrate(pool: pg.Pool, opts: { dir?: string; log?: (msg: string) => void } = {}): Promise<string[]> {
  const migrations = await loadMigrations(opts.dir);
  const latest = migrations.at(-1)?.version ?? 0;
  const applied = await locked(pool, async (c) => {
    const r = await c.query<{ version: number }>('select version from schema_migrations');
    return new Set(r.rows.map((row) => row.version));
  }).catch((err: Error & { code?: string }) => {
    // 42501: insufficient_privilege, typically PostgreSQL 15+'s locked-down public schema.
    if (err.code === '42501') {
      throw new MigrationError(`the database user may not create orch's tables (${err.message}): give it its own database (createdb -O <user> orch) or CREATE on the schema`);
    }
    throw err;
  });
  const newest = Math.max(0, ...applied);
  if (newest > latest) {
    throw new MigrationError(`the database schema is at version ${newest} but this orch only knows migrations up to ${latest}: upgrade orch`);
  }
  const done: string[] = [];
  for (const m of migrations.filter((x) => !applied.has(x.version))) {
    const ran = await locked(pool, async (c) => {
      // Another coordinator may have applied it while we waited for the lock.
      const again = await c.query('select 1 from schema_migrations where version = $1', [m.version]);
      if (again.rowCount) return false;
      try {
        await c.query(m.sql);
      } catch (err) {
        throw new MigrationError(`database migration ${m.name} failed: ${(err as Error).message}`);
      }
      await c.query('insert into schema_migrations (version, name) values ($1, $2)', [m.version, m.name]);
      return true;
    });
    if (ran) {
      done.push(m.name);
      opts.log?.(`applied database migration ${m.name}`);
    }
  }
  return done;
}

/** Run `fn` in a transaction holding the migration lock, with schema_migrations present. */
async function locked<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query('begin');
    await c.query('select pg_advisory_xact_lock($1, $2)', [...LOCK_KEYS]);
    await c.query(`create table if not exists schema_migrations (
      version    int primary key,
      name       text not null,
      applied_at timestamptz not null default now())`);
    const result = await fn(c);
    await c.query('commit');
    return result;
  } catch (err) {
    await c.query('rollback').catch(() => { broken = true; });
    throw err;
  } finally {
    c.release(broken);
  }
}
