// PostgreSQL refuses to run as root. When orch itself runs as root (containers, CI), the
// embedded server runs as an unprivileged system user instead — `postgres` when the host
// has one, else `nobody` — which must own the data directory and be able to reach it and
// the binaries. We never create users on the host.
import { execFile } from 'node:child_process';
import { chmod, lchown, readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The account the server runs as when orch is root. */
export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

const CANDIDATES = ['postgres', 'nobody'];

/** Undefined when orch is not root: then the server simply runs as orch's own user. */
export async function serverUser(): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of CANDIDATES) {
    try {
      const [u, g] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
      const uid = Number(u.stdout.trim());
      const gid = Number(g.stdout.trim());
      if (Number.isInteger(uid) && uid > 0 && Number.isInteger(gid)) return { name, uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error(`orch runs as root and PostgreSQL cannot; none of the users ${CANDIDATES.join(', ')} exists to run it as: create one, or run orch as a normal user, or set database.url`);
}

/**
 * Make `path` and every directory above it searchable by `user`, adding only the execute
 * (traverse) bit of the class that applies to that user — never read, so nothing becomes
 * listable. Supplementary groups are ignored because spawning with a uid drops them.
 */
export async function grantTraverse(path: string, user: ServerUser, log: (msg: string) => void): Promise<void> {
  const chain: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of chain) {
    const st = await stat(dir);
    const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001;
    if ((st.mode & bit) !== 0) continue;
    await chmod(dir, (st.mode & 0o7777) | bit);
    log(`made ${dir} traversable (no listing) for user ${user.name}, which runs the embedded PostgreSQL because orch runs as root`);
  }
}

/** Hand a directory tree to `user` (a cluster initialised by another account, say). */
export async function chownTree(dir: string, user: ServerUser): Promise<void> {
  await lchown(dir, user.uid, user.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, user);
    else await lchown(p, user.uid, user.gid);
  }
}
