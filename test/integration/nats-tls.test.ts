// NATS over TLS (issue 9): a nats-server that requires TLS, with a certificate from a
// private CA; orch's bus connects with `nats.tls_ca` and works (JetStream KV). A client
// that tries plaintext is told TLS is required, before anything else is said.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Authority } from '../../coordinator/tls/authority.js';
import { NatsBus } from '../../runtime/bus/nats.js';
import { natsServerAvailable, startNatsServer, type NatsServer } from '../harness/nats-server.js';

const available = natsServerAvailable();
if (!available) console.warn('\n*** SKIPPING NATS TLS test: nats-server is not installed (apt-get install nats-server) ***\n');

describe.skipIf(!available)('NATS with TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-nats-tls-'));
  let server: NatsServer | undefined;
  let bus: NatsBus | undefined;
  afterAll(async () => {
    await bus?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the bus connects over TLS to a server that requires it, verifying its private CA (nats.tls_ca)', async () => {
    // A CA and a server certificate for 127.0.0.1, made as the coordinator makes its own.
    await Authority.open(dir);
    const tls = join(dir, 'tls');
    server = await startNatsServer({ jetstream: true, tls: { cert: join(tls, 'server.crt'), key: join(tls, 'server.key') } });
    // What the server says first to anyone: TLS is required.
    const info = await new Promise<string>((resolve, reject) => {
      const s = tcpConnect(server!.port, '127.0.0.1');
      s.once('data', (d) => { resolve(String(d)); s.destroy(); });
      s.once('error', reject);
    });
    expect(info).toMatch(/^INFO .*"tls_required":true/);

    bus = await NatsBus.connect({ url: server.url, tlsCa: join(tls, 'ca.crt'), name: 'tls-test' });
    const kv = await bus.kv('tls_test', { ttlMs: 60_000 });
    await kv.put('k', Buffer.from('over tls'));
    expect(Buffer.from((await kv.get('k'))!.value).toString()).toBe('over tls');
  }, 60_000);
});

describe.skipIf(!available)('deploy/nats-server.conf', () => {
  it('is a configuration nats-server accepts (TLS, JetStream, one account per role)', async () => {
    const { spawnSync } = await import('node:child_process');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const { ROOT } = await import('../harness/orch.js');
    const d = mkdtempSync(join(tmpdir(), 'orch-nats-conf-'));
    try {
      await Authority.open(d);
      const conf = readFileSync(join(ROOT, 'deploy', 'nats-server.conf'), 'utf8')
        .replace('/etc/nats/server.crt', join(d, 'tls', 'server.crt')).replace('/etc/nats/server.key', join(d, 'tls', 'server.key'))
        .replace('/var/lib/nats', join(d, 'js'));
      writeFileSync(join(d, 'nats.conf'), conf);
      const r = spawnSync('nats-server', ['-c', join(d, 'nats.conf'), '-t'], {
        env: { ...process.env, ORCH_NATS_COORDINATOR_PASSWORD: 'pw-coordinator', ORCH_NATS_NODE_PASSWORD: 'pw-node' }, encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/configuration file .* is valid/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
