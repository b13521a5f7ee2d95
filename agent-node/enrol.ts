// A node's identity in a TLS fleet. Given the join token, the node fetches the cluster CA
// and checks it against the token's fingerprint, makes its key (kept in
// $ORCH_HOME/tls/node.key, mode 0600), and at first join sends a CSR for its name; the
// certificate it gets back (tls/node.crt) is reused on every restart.
import { status, type ServiceError } from '@grpc/grpc-js';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeGatewayClient, type EnrollResponse } from '../proto/gen/orch/v1/node.js';
import { backoffMs } from '../runtime/actor.js';
import { tokenMetadata } from '../runtime/grpc-auth.js';
import { logger } from '../runtime/log.js';
import { CaMismatchError, channelCredentials, channelOptions, fetchPinnedCaFromAny, type ClientTls } from '../runtime/tls/channel.js';
import { parseJoinToken } from '../runtime/tls/join-token.js';
import { certExpiry, certFingerprint, commonName, loadKeyPair, makeCsr, newKeyPair } from '../runtime/tls/x509.js';
import { coordinatorAddresses, transient } from './gateway-client.js';

const log = logger('enrol');

export interface Connection {
  /** The secret for `authorization: Bearer` (the join token's secret part, or the plain token). */
  token?: string;
  tls?: ClientTls;
}

/**
 * How to reach the coordinator: a plain token means plaintext gRPC (the embedded default);
 * a join token means TLS pinned to its CA, with this node's enrolled certificate.
 */
export async function joinCoordinator(o: { home: string; name: string; coordinator: string; token?: string }): Promise<Connection> {
  const pin = o.token ? parseJoinToken(o.token) : undefined;
  if (!pin) return { token: o.token };
  const dir = joinPath(o.home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const addresses = coordinatorAddresses(o.coordinator);
  const f = (n: string) => join(dir, n);

  let ca = existsSync(f('ca.crt')) ? readFileSync(f('ca.crt'), 'utf8') : '';
  if (!ca || certFingerprint(ca) !== pin.caFingerprint) {
    ca = await fetchCa(addresses, pin.caFingerprint);
    writeFileSync(f('ca.crt'), ca);
    rmSync(f('node.crt'), { force: true }); // issued by another CA, if any
  }
  if (!existsSync(f('node.key'))) {
    writeFileSync(f('node.key'), (await newKeyPair()).key, { mode: 0o600 });
  }
  chmodSync(f('node.key'), 0o600);
  const key = readFileSync(f('node.key'), 'utf8');
  let cert = existsSync(f('node.crt')) ? readFileSync(f('node.crt'), 'utf8') : '';
  if (cert && (commonName(cert) !== o.name || certExpiry(cert).getTime() < Date.now() + 24 * 3600 * 1000)) cert = '';
  if (!cert) {
    cert = await enrol({ addresses, name: o.name, key, ca, secret: pin.secret });
    writeFileSync(f('node.crt'), cert);
    log.info('enrolled with the coordinator', { node: o.name, certificate: certFingerprint(cert).slice(0, 16) });
  }
  return { token: pin.secret, tls: { ca, key, cert } };
}

function joinPath(home: string): string { return join(home, 'tls'); }

/** The pinned CA, waiting for a coordinator that is not up yet (a node may start first); another cluster's CA is final. */
async function fetchCa(addresses: string[], fingerprint: string): Promise<string> {
  for (let i = 1; ; i++) {
    try {
      return await fetchPinnedCaFromAny(addresses, fingerprint);
    } catch (err) {
      if (err instanceof CaMismatchError) throw err;
      if (i === 1 || i % 10 === 0) log.warn('first join: coordinator unreachable, retrying', { addresses, err: (err as Error).message });
      await new Promise((r) => setTimeout(r, backoffMs(i, 200, 5_000)));
    }
  }
}

/** Send a CSR for `name`, retrying while the coordinator is away; a refusal is final, with its reason. */
async function enrol(o: { addresses: string[]; name: string; key: string; ca: string; secret: string }): Promise<string> {
  const csrPem = await makeCsr(o.name, await loadKeyPair(o.key));
  for (let i = 1; ; i++) {
    const address = o.addresses[(i - 1) % o.addresses.length];
    const tls = { ca: o.ca };
    const client = new NodeGatewayClient(address, channelCredentials(tls), channelOptions(tls));
    try {
      const res = await new Promise<EnrollResponse>((resolve, reject) =>
        client.enroll({ name: o.name, csrPem }, tokenMetadata(o.secret), { deadline: Date.now() + 15_000 }, (e, r) => (e ? reject(e) : resolve(r))));
      return res.certPem;
    } catch (err) {
      const e = err as ServiceError;
      if (!transient(e) || i >= 60) {
        const why = e.code === status.PERMISSION_DENIED || e.code === status.UNAUTHENTICATED ? e.details : (e.details || e.message);
        throw new Error(`node ${o.name} could not enrol with the coordinator at ${address}: ${why}`);
      }
      if (i === 1 || i % 10 === 0) log.warn('enrolment: coordinator unreachable, retrying', { address, err: e.details || e.message });
      await new Promise((r) => setTimeout(r, backoffMs(i, 200, 5_000)));
    } finally {
      client.close();
    }
  }
}
