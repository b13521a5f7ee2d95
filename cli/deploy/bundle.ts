// The offline bundle `orch node deploy` copies to a host without registry access:
// `npm pack` of this very orch (what `npm publish` would ship) plus its production
// dependencies installed beside it, as one .tar.gz that runs after `tar -x` with no
// network. Built on the deploying machine from its npm cache and kept under
// $ORCH_HOME/deploy/bundles, keyed by the packed tarball's hash, so later deploys of the
// same build reuse it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from '../client.js';

export interface Bundle {
  file: string;
  /** `VERSION-HASH12`: what a host has installed, compared before copying again. */
  id: string;
  bytes: number;
  /** Whether this call built it (false: reused from the cache). */
  built: boolean;
}

/** The root of the running orch package (a checkout or an installed copy). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'orch') return dir;
    const up = dirname(dir);
    if (up === dir) throw new CliError('cannot find the orch package this CLI runs from (no package.json named orch above it)');
    dir = up;
  }
}

function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } }, (err, out, se) => (err
      ? reject(new CliError(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${String(se || err.message).trim().slice(-1500)}`))
      : resolve(String(out))));
  });
}

/**
 * What the bundle is made of, hashed: package.json, the lock and every file under the
 * package's `files` entries (a superset of what `npm pack` takes). Cheaper than packing
 * (~4 s under load) just to learn that the cached bundle is current.
 */
function contentHash(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files?: string[] };
  const hash = createHash('sha256');
  const add = (rel: string) => {
    const abs = join(root, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const e of readdirSync(abs).sort()) add(join(rel, e));
      return;
    }
    hash.update(`${rel}\0`);
    hash.update(readFileSync(abs));
  };
  for (const f of ['package.json', 'package-lock.json', ...(pkg.files ?? [])]) add(f);
  return hash.digest('hex').slice(0, 12);
}

/**
 * The bundle for this orch, from the cache or built now. Dependencies come from the
 * package-lock when the package has one (a checkout), else from package.json; npm
 * prefers its cache, so a machine that installed orch once builds it offline.
 * Optional packages are left out: they are the embedded PostgreSQL binaries, which only
 * `orch serve` needs, and a node does not serve.
 */
export async function offlineBundle(cacheDir: string, progress: (msg: string) => void): Promise<Bundle> {
  const root = packageRoot();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const id = `${version}-${contentHash(root)}`;
  const file = join(cacheDir, `orch-${id}.tgz`);
  if (existsSync(file)) return { file, id, bytes: statSync(file).size, built: false };
  const stage = mkdtempSync(join(tmpdir(), 'orch-bundle-'));
  try {
    progress(`building the offline bundle ${id} (npm pack + production dependencies from the npm cache)`);
    const packed = (await sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', stage], root)).trim().split('\n').pop()!;
    const tgz = join(stage, packed);
    await sh('tar', ['-xzf', tgz, '-C', stage], stage);
    const pkg = join(stage, 'package');
    const lock = existsSync(join(root, 'package-lock.json'));
    if (lock) copyFileSync(join(root, 'package-lock.json'), join(pkg, 'package-lock.json'));
    await sh('npm', [lock ? 'ci' : 'install', '--omit=dev', '--omit=optional', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], pkg);
    if (!readdirSync(join(pkg, 'node_modules')).length) throw new CliError('the offline bundle has no dependencies installed');
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await sh('tar', ['-czf', tmp, '-C', stage, 'package'], stage);
    renameSync(tmp, file);
    return { file, id, bytes: statSync(file).size, built: true };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
