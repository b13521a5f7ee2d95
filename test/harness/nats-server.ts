// A real nats-server owned by one test: free loopback port, private store dir,
// stopped by PID. restart() keeps the port and the JetStream store.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export function natsServerAvailable(): boolean {
  const ok = spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!ok && process.env.CI === 'true') throw new Error('nats-server is not installed; under CI=true this is a failure, not a skip (.ci/run installs it)');
  return ok;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = tcpConnect(port, host);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export interface NatsServer {
  url: string;
  port: number;
  readonly pid: number | undefined;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** An outage: the server stops (its store kept) until up(). */
  down(): Promise<void>;
  up(): Promise<void>;
}

/** `user`/`password`: accounts from a config file (mode 0600), so no secret sits on nats-server's argv. */
export async function startNatsServer(o: { jetstream?: boolean; token?: string; host?: string; user?: string; password?: string; tls?: { cert: string; key: string } } = {}): Promise<NatsServer> {
  const host = o.host ?? '127.0.0.1';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'orch-nats-'));
  let proc: ChildProcess | undefined;
  const launch = async () => {
    const args = ['-a', host, '-p', String(port), '-n', `orch-test-${port}`];
    if (o.jetstream !== false) args.push('-js', '-sd', join(dir, 'js'));
    if (o.token) args.push('--auth', o.token);
    if (o.tls) args.push('--tls', '--tlscert', o.tls.cert, '--tlskey', o.tls.key);
    if (o.user && o.password) {
      const conf = join(dir, 'auth.conf');
      writeFileSync(conf, `authorization {\n  user: ${JSON.stringify(o.user)}\n  password: ${JSON.stringify(o.password)}\n}\n`, { mode: 0o600 });
      args.push('-c', conf);
    }
    proc = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.on('data', (d) => { stderr = (stderr + String(d)).slice(-4000); });
    const p = proc;
    await waitFor(async () => {
      if (p.exitCode !== null) throw new Error(`nats-server exited (${p.exitCode}): ${stderr}`);
      return portOpen(port, host);
    }, { timeoutMs: 15_000, what: 'nats-server to listen' });
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(t);
  };
  await launch();
  return {
    url: `nats://${host}:${port}`,
    port,
    get pid() { return proc?.pid; },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await kill();
      await launch();
    },
    down: kill,
    up: launch,
  };
}
