// A real nats-server owned by one test: free loopback port, private store dir,
// stopped by PID. restart() keeps the port and the JetStream store.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export function natsServerAvailable(): boolean {
  const ok = spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!ok && process.env.CI === 'true') throw new Error('nats-server is not installed; under CI=true this is a failure, not a skip (.ci/run installs it)');
  return ok;
}

/** The kernel's ephemeral port range: bind() to port 0 and every outgoing connect() take their port from it. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // not Linux: the IANA range
  }
  return [49152, 65535];
}

/** Ports this process handed out: a server that is down for a restart keeps its port. */
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A port for a server the test starts (and may restart on the same port). Between this
 * probe and the server's own bind the port is free, and so it is while a restarted
 * server is down: a port from the ephemeral range could be taken meanwhile by any
 * process's bind(0) or outgoing connection (the machine runs many tests at once). So the
 * port comes from below (or above) that range, where the kernel never hands out ports by
 * itself; the only contenders are other tests picking at random from the same range.
 */
export async function freePort(): Promise<number> {
  const [lo, hi] = ephemeralRange();
  const [from, to] = lo - 1 - 10_000 >= 2_000 ? [10_000, lo - 1] : [hi + 1, 65_535];
  for (let i = 0; i < 200; i++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${from} and ${to} after 200 tries`);
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
