// The client side of the coordinator's TLS: fetch the CA the join token pins (its
// fingerprint is checked before anything is trusted), then gRPC channel credentials that
// verify the coordinator by that CA and, for an enrolled node, present its certificate.
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { connect, type PeerCertificate } from 'node:tls';
import { certFingerprint, SERVER_NAME, x509 } from './x509.js';

export interface ClientTls {
  /** The cluster CA (PEM), verified against the join token's fingerprint. */
  ca: string;
  /** An enrolled node's key and certificate (PEM): mutual TLS. */
  key?: string;
  cert?: string;
}

/** What answers is not the cluster the join token names: retrying will not help. */
export class CaMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaMismatchError';
  }
}

/** `host:port` / `[::1]:port` -> parts. */
function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/**
 * The CA certificate (PEM) whose SHA-256 is `fingerprint`, from the chain the coordinator
 * at `address` presents. Nothing of the connection is trusted before the match.
 */
export function fetchPinnedCa(address: string, fingerprint: string, timeoutMs = 10_000): Promise<string> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername: SERVER_NAME, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no TLS answer from the coordinator at ${address} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.once('error', (err) => { clearTimeout(timer); reject(new Error(`cannot reach the coordinator at ${address} over TLS: ${err.message}`)); });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const seen: string[] = [];
      let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
      for (let i = 0; c?.raw && i < 8; i++) {
        const fp = certFingerprint(c.raw);
        if (fp === fingerprint) {
          socket.destroy();
          resolve(new x509.X509Certificate(c.raw).toString('pem').replace(/\r\n/g, '\n').replace(/\n?$/, '\n'));
          return;
        }
        seen.push(fp);
        const next: PeerCertificate | undefined = (c as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
        if (!next || next === c) break;
        c = next;
      }
      socket.destroy();
      reject(new CaMismatchError(`the coordinator at ${address} does not present the CA the join token pins (${fingerprint.slice(0, 16)}…): `
        + 'the token belongs to another cluster, or something else answers there'));
    });
  });
}

/** Channel credentials that trust only the cluster CA (and present a node's certificate when given). */
export function channelCredentials(tls: ClientTls): ChannelCredentials {
  return credentials.createSsl(Buffer.from(tls.ca), tls.key ? Buffer.from(tls.key) : null, tls.cert ? Buffer.from(tls.cert) : null);
}

/** Channel options for TLS: the coordinator is verified by the fixed name in its certificate, whatever address is dialled. */
export function channelOptions(tls: ClientTls | undefined): ChannelOptions {
  return tls ? { 'grpc.ssl_target_name_override': SERVER_NAME, 'grpc.default_authority': SERVER_NAME } : {};
}

/** The CA of the first of `addresses` that answers with it. */
export async function fetchPinnedCaFromAny(addresses: string[], fingerprint: string): Promise<string> {
  let last: Error | undefined;
  for (const a of addresses) {
    try {
      return await fetchPinnedCa(a, fingerprint);
    } catch (err) {
      if (err instanceof CaMismatchError) throw err;
      last = err as Error;
    }
  }
  throw last ?? new Error('no coordinator address given');
}
