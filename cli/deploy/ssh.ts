// One SSH connection to a host being deployed (ssh2): the host key checked against
// known_hosts before any credential is sent, commands run with their input on the
// channel's stdin (secrets never go into a command line), files written the same way.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import ssh2 from 'ssh2';
import { CliError } from '../client.js';
import { fingerprint, keyTypeOf, knownHostsLine, knownHostsName, knownTypes, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';

export interface SshTarget {
  user: string;
  host: string;
  port: number;
  /** Private key file (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa, whichever exists first; or the ssh-agent). */
  identity?: string;
  knownHosts: string;
  acceptNewHostKey: boolean;
}

export interface ExecResult { code: number; stdout: string; stderr: string }

/** `user@host` into its parts; user defaults to the local user. */
export function parseTarget(spec: string): { user: string; host: string } {
  const at = spec.lastIndexOf('@');
  const user = at >= 0 ? spec.slice(0, at) : (process.env.USER ?? 'root');
  const host = at >= 0 ? spec.slice(at + 1) : spec;
  if (!host || !/^[A-Za-z0-9._:-]+$/.test(host) || !/^[A-Za-z0-9._-]+$/.test(user)) {
    throw new CliError(`"${spec}" is not USER@HOST (letters, digits, . _ - in the user; a host name or address)`, 2);
  }
  return { user, host };
}

/** Single-quote a value for a POSIX shell. */
export function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function defaultIdentity(): string | undefined {
  for (const f of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = join(homedir(), '.ssh', f);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export class SshHost {
  /** What known_hosts said, and the key's fingerprint, once connected. */
  hostKey: { fingerprint: string; type: string; verdict: HostKeyVerdict['kind'] | 'recorded' } | undefined;

  private constructor(private readonly conn: ssh2.Client, readonly target: SshTarget) {}

  get label(): string { return `${this.target.user}@${this.target.host}${this.target.port === 22 ? '' : `:${this.target.port}`}`; }

  static async connect(t: SshTarget): Promise<SshHost> {
    const name = knownHostsName(t.host, t.port);
    const khText = existsSync(t.knownHosts) ? readFileSync(t.knownHosts, 'utf8') : '';
    const identity = t.identity ?? defaultIdentity();
    let privateKey: Buffer | undefined;
    if (identity) {
      try {
        privateKey = readFileSync(identity);
      } catch (err) {
        throw new CliError(`cannot read the SSH identity ${identity}: ${(err as Error).message}`, 2);
      }
    }
    if (!privateKey && !process.env.SSH_AUTH_SOCK) throw new CliError('no SSH identity: pass --identity KEY (or run an ssh-agent)', 2);
    const conn = new ssh2.Client();
    const host = new SshHost(conn, t);
    let refusal: CliError | undefined;
    await new Promise<void>((resolve, reject) => {
      conn.once('ready', () => {
        // Later connection errors fail the command that is running (its channel closes); they must not end the process.
        conn.on('error', () => undefined);
        resolve();
      });
      conn.once('error', (err) => reject(refusal ?? new CliError(`cannot connect to ${host.label}: ${err.message}`)));
      // Offer the key types known_hosts holds for this host first, as ssh does, so a
      // server with several host keys shows the one we can check.
      const known = knownTypes(khText, name);
      conn.connect({
        host: t.host, port: t.port, username: t.user, privateKey, agent: privateKey ? undefined : process.env.SSH_AUTH_SOCK,
        readyTimeout: 20_000,
        keepaliveInterval: 15_000,
        ...(known.length ? { algorithms: { serverHostKey: [...known, 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256'].filter((v, i, a) => a.indexOf(v) === i) as ssh2.ServerHostKeyAlgorithm[] } } : {}),
        hostVerifier: (blob: Buffer) => {
          const key = { type: keyTypeOf(blob), blob };
          const fp = fingerprint(blob);
          const v = verifyHostKey(khText, name, key);
          if (v.kind === 'known') {
            host.hostKey = { fingerprint: fp, type: key.type, verdict: 'known' };
            return true;
          }
          if (v.kind === 'changed') {
            refusal = new CliError(v.revoked
              ? `the host key of ${name} (${key.type} ${fp}) is marked @revoked in ${t.knownHosts} line ${v.line}: refusing to connect`
              : `the host key of ${name} has CHANGED: it shows ${key.type} ${fp}, but ${t.knownHosts} line ${v.line} holds another ${key.type} key. ` +
                'Someone may be intercepting the connection, or the host was reinstalled. If you know why it changed, remove the old entry ' +
                `(ssh-keygen -R '${name}' -f ${t.knownHosts}) and deploy again. --accept-new-host-key never replaces a known key.`);
            return false;
          }
          if (v.otherTypes.length) {
            refusal = new CliError(`${name} is in ${t.knownHosts} with ${v.otherTypes.join(', ')} key(s), but showed a ${key.type} key (${fp}) instead: refusing (check the host, then remove its entries with ssh-keygen -R)`);
            return false;
          }
          if (!t.acceptNewHostKey) {
            refusal = new CliError(`the host key of ${name} is not known: ${key.type} ${fp} is not in ${t.knownHosts}. ` +
              'Check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run again with --accept-new-host-key to trust and record it.');
            return false;
          }
          mkdirSync(dirname(t.knownHosts), { recursive: true, mode: 0o700 });
          appendFileSync(t.knownHosts, knownHostsLine(name, key), { mode: 0o600 });
          host.hostKey = { fingerprint: fp, type: key.type, verdict: 'recorded' };
          return true;
        },
      });
    });
    return host;
  }

  /** Run a shell command line (no secrets in it: it is the remote shell's argv); stdin, if given, goes over the channel. */
  exec(command: string, stdin?: string | Buffer | Readable, onStdout?: (chunk: string) => void): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      // Through sh whatever the user's login shell is (fish, csh...): the lines here are POSIX sh.
      this.conn.exec(`sh -c ${sq(command)}`, (err, ch) => {
        if (err) return reject(new CliError(`${this.label}: cannot run a command: ${err.message}`));
        let stdout = '';
        let stderr = '';
        let code = -1;
        ch.on('data', (d: Buffer) => { stdout += d.toString(); onStdout?.(d.toString()); });
        ch.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        ch.on('exit', (c: number | null, signal?: string) => { code = c ?? (signal ? 128 : -1); });
        ch.on('close', () => resolve({ code, stdout, stderr }));
        if (stdin === undefined) ch.end();
        else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) ch.end(stdin);
        else stdin.pipe(ch);
      });
    });
  }

  /** exec that throws a CliError naming the step when the command fails. */
  async run(step: string, command: string, stdin?: string | Buffer | Readable): Promise<string> {
    const r = await this.exec(command, stdin);
    if (r.code !== 0) throw new CliError(`${this.label}: ${step} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
    return r.stdout;
  }

  close(): void {
    this.conn.end();
  }
}

/** known_hosts: the given file, or ~/.ssh/known_hosts. */
export function knownHostsFile(given: string | undefined): string {
  return given ?? join(homedir(), '.ssh', 'known_hosts');
}
