// A real OpenSSH server for a test: its own config, host key and authorized_keys in a
// temp dir, on its own address and port (inside a network namespace when given a
// wrap), in the foreground (-D) so its PID is ours to stop. /etc/ssh and ~/.ssh are
// never read or written.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export const SSHD = '/usr/sbin/sshd';

/** Why sshd cannot run here, or undefined. Under CI=true that is a failure. */
export function sshdUnavailable(): string | undefined {
  const why = existsSync(SSHD) ? undefined : `${SSHD} is missing (apt-get install openssh-server)`;
  if (why && process.env.CI === 'true') throw new Error(`${why}; under CI=true this is a failure, not a skip`);
  return why;
}

/** A new ed25519 key pair (no passphrase) at file and file.pub. */
export function keygen(file: string, comment = 'orch-test'): { priv: string; pub: string; fingerprint: string } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: 'ignore' });
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1];
  return { priv: file, pub: readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint };
}

export interface TestSshd {
  proc: ChildProcess;
  address: string;
  port: number;
  hostKey: { pub: string; fingerprint: string };
  log(): string;
  stop(): Promise<void>;
}

/**
 * sshd is picky about its privilege-separation directory; a container that never ran it
 * lacks /run/sshd. Made (empty, root-owned) when missing; returns whether it was made.
 */
export function ensurePrivsepDir(): boolean {
  if (existsSync('/run/sshd')) return false;
  mkdirSync('/run/sshd', { mode: 0o755 });
  return true;
}

export async function startSshd(o: { dir: string; listen: string; port: number; authorizedKeys: string; wrap?: string[] }): Promise<TestSshd> {
  mkdirSync(o.dir, { recursive: true });
  const hk = keygen(join(o.dir, 'ssh_host_ed25519_key'), 'orch-test-host');
  const config = join(o.dir, 'sshd_config');
  writeFileSync(config, [
    `ListenAddress ${o.listen}:${o.port}`,
    `HostKey ${hk.priv}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    `PidFile ${join(o.dir, 'sshd.pid')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PrintMotd no',
    'LogLevel VERBOSE',
    'Subsystem sftp internal-sftp',
  ].join('\n') + '\n');
  const logFile = join(o.dir, 'sshd.log');
  const out = openSync(logFile, 'a');
  const [cmd, ...args] = [...(o.wrap ?? []), SSHD, '-D', '-e', '-f', config];
  const proc = spawn(cmd, args, { stdio: ['ignore', out, out] });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`sshd exited ${proc.exitCode}:\n${log()}`);
    return /Server listening on/.test(log());
  }, { timeoutMs: 15_000, what: `sshd on ${o.listen}:${o.port}` });
  return {
    proc, address: o.listen, port: o.port, hostKey: { pub: hk.pub, fingerprint: hk.fingerprint }, log,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
