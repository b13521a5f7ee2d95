// The server process: launching postgres on a loopback port and waiting until it is ready,
// and, before that, dealing with what an earlier run left behind (a stale postmaster.pid, or
// a server still running after its orch was killed).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ids, serverEnv, type Binaries, type ClusterFiles } from './cluster.js';
import { DatabaseUnavailableError } from './errors.js';
import type { ServerUser } from './run-as.js';

/** The server listens here only (and on no unix socket). */
export const LISTEN_HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 60_000;

export class RetryableStart extends Error {}

export async function launch(bins: Binaries, dataDir: string, port: number, logFile: string, user: ServerUser | undefined, ephemeral: boolean): Promise<ChildProcess> {
  const fd = openSync(logFile, 'a', 0o600);
  const offset = fstatSync(fd).size;
  let child: ChildProcess;
  try {
    child = spawn(bins.postgres, [
      '-D', dataDir, '-p', String(port),
      '-c', `listen_addresses=${LISTEN_HOST}`, '-c', 'unix_socket_directories=',
      ...(ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
    ], { ...ids(user), env: serverEnv(), stdio: ['ignore', fd, fd], detached: true }); // own process group: a terminal's ^C is ours to handle
  } finally {
    closeSync(fd);
  }
  let failure: string | undefined;
  child.once('error', (err) => { failure = err.message; });
  child.once('exit', (code, sig) => { failure ??= `exited with ${sig ?? `code ${code}`}`; });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const pidLines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n');
    if (!failure && Number(pidLines[0]) === child.pid && pidLines[7]?.trim() === 'ready') return child;
    if (!failure && Date.now() > deadline) {
      child.kill('SIGKILL');
      failure = `not ready after ${READY_TIMEOUT_MS / 1000} s`;
    }
    if (failure) {
      const why = serverComplaint(logFile, offset) ?? failure;
      const msg = `embedded PostgreSQL in ${dataDir} did not start: ${why} (log: ${logFile})`;
      throw /could not bind|already in use|shared memory block is still in use|lock file .* already exists/i.test(why) ? new RetryableStart(msg) : new Error(msg);
    }
    await sleep(20);
  }
}

/** The last FATAL/PANIC line the server wrote since `offset`, without its timestamp prefix. */
function serverComplaint(logFile: string, offset: number): string | undefined {
  const text = readFileSync(logFile, 'utf8').slice(offset);
  const lines = text.split('\n').filter((l) => /\b(FATAL|PANIC):/.test(l));
  const last = lines.at(-1);
  return last ? last.slice(last.search(/\b(FATAL|PANIC):/)).replace(/\s+/g, ' ').trim() : undefined;
}

/**
 * Before starting: a postmaster.pid whose process is gone is removed (postgres would mostly
 * do so itself, but not when the pid has been reused). A server still running from an orch
 * that was killed is stopped; one whose orch is still alive means the store is in use.
 */
export async function clearLeftovers(dataDir: string, files: ClusterFiles, log: (msg: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !running(pid)) {
    await rm(pidFile, { force: true });
    log(`removed a stale postmaster.pid from ${dataDir} (process ${pid} is gone)`);
    return;
  }
  const args = procArgs(pid);
  if (args === undefined) return; // no /proc: postgres checks the pid file itself
  const dashD = args.indexOf('-D');
  if (!args[0]?.endsWith('postgres') || dashD < 0 || resolve(args[dashD + 1] ?? '') !== dataDir) {
    await rm(pidFile, { force: true });
    log(`removed a stale postmaster.pid from ${dataDir} (process ${pid} is no longer its server)`);
    return;
  }
  const owner = Number((await readFile(files.owner, 'utf8').catch(() => '')).trim().split(' ')[0]);
  if (owner > 0 && parentOf(pid) === owner && running(owner)) {
    throw new DatabaseUnavailableError(`the embedded PostgreSQL in ${dataDir} is already in use by process ${owner} (another orch serve with the same ORCH_HOME?): stop it first`);
  }
  log(`stopping the embedded PostgreSQL (pid ${pid}) left running by an orch that was killed`);
  for (const [sig, waitMs] of [['SIGINT', 30_000], ['SIGQUIT', 5_000], ['SIGKILL', 5_000]] as const) {
    try { process.kill(pid, sig); } catch { /* gone */ }
    for (const until = Date.now() + waitMs; running(pid) && Date.now() < until;) await sleep(50);
    if (!running(pid)) return;
  }
  throw new DatabaseUnavailableError(`cannot stop the leftover embedded PostgreSQL (pid ${pid}) in ${dataDir}: stop it by hand`);
}

/** postgres.owner: '<orch pid> <postmaster pid>'. */
export function ownerRecord(postmasterPid: number): string {
  return `${process.pid} ${postmasterPid}`;
}

/** Alive and not a zombie (a zombie keeps its pid until reaped, which a container's init may never do). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = procStat(pid);
  return st === undefined || st.state !== 'Z';
}

function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  return procStat(pid)?.ppid;
}

function procArgs(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', fail);
    srv.listen(0, LISTEN_HOST, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? done(addr.port) : fail(new Error('no port assigned'))));
    });
  });
}
