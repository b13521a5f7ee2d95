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
