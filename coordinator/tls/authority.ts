// The cluster's certificate authority, kept under $ORCH_HOME/tls by the coordinator that
// made it at first start (keys mode 0600), and in the cluster's database so a standby
// serves with the same CA: it signs the coordinator's server certificate
// and each node's client certificate (CN = node name). Nothing here is copied by hand:
// nodes and CLIs pin the CA by the fingerprint in the join token.
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { CaSealedError, type CaPair, type ClusterCaStore } from '../store/identities.js';
import { certFingerprint, KEY_ALG, loadKeyPair, newKeyPair, SERVER_NAME, x509, type CryptoKey, type KeyPairPem } from '../../runtime/tls/x509.js';

const YEAR_MS = 365 * 24 * 3600 * 1000;

export function tlsDir(home: string): string { return join(home, 'tls'); }

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive
  return b.toString('hex');
}

/** PEM with a final newline, so certificates concatenate into a chain. */
function pemOf(c: x509.X509Certificate): string {
  return c.toString('pem').replace(/\r\n/g, '\n').replace(/\n?$/, '\n');
}

function writeSecret(path: string, pem: string): void {
  writeFileSync(path, pem, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export class Authority {
  private constructor(readonly dir: string, private readonly caKeys: KeyPairPem, readonly caPem: string, readonly serverKey: string, readonly serverCert: string) {}

  /** SHA-256 of the CA certificate: the pin in every join token. */
  get fingerprint(): string { return certFingerprint(this.caPem); }

  /**
   * Load the CA and server certificate under `home/tls`, making what is missing. `hosts`
   * are extra names/addresses for the server certificate (clients verify SERVER_NAME anyway).
   */
  static async open(home: string, hosts: string[] = [], shared?: ClusterCaStore): Promise<Authority> {
    const dir = tlsDir(home);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const f = (n: string) => join(dir, n);
    // The CA: the cluster's (in the shared database) first, then this home's, else a new one.
    const local = existsSync(f('ca.key')) && existsSync(f('ca.crt')) ? { key: readFileSync(f('ca.key'), 'utf8'), cert: readFileSync(f('ca.crt'), 'utf8') } : undefined;
    let ca: CaPair | undefined;
    try {
      ca = await shared?.load();
    } catch (err) {
      // Sealed with another token: the coordinator that holds the CA's key seals it anew (a token change).
      if (!(err instanceof CaSealedError) || !shared || local?.cert !== err.cert) throw err;
      await shared.reseal(local);
      ca = local;
    }
    ca ??= local;
    if (!ca) ca = await Authority.newCa();
    if (shared) ca = await shared.saveFirst(ca);
    const caKeys = await loadKeyPair(ca.key);
    const caPem = ca.cert;
    if (!existsSync(f('ca.crt')) || readFileSync(f('ca.crt'), 'utf8') !== caPem) {
      writeSecret(f('ca.key'), ca.key);
      writeFileSync(f('ca.crt'), caPem);
    }
    let serverKey = existsSync(f('server.key')) ? readFileSync(f('server.key'), 'utf8') : '';
    let serverCert = existsSync(f('server.crt')) ? readFileSync(f('server.crt'), 'utf8') : '';
    if (!serverKey || !serverCert || !(await new x509.X509Certificate(serverCert).verify({ publicKey: new x509.X509Certificate(caPem).publicKey, signatureOnly: true }))) {
      const keys = await newKeyPair();
      const names = [...new Set([SERVER_NAME, 'localhost', hostname(), '127.0.0.1', '::1', ...hosts].filter((h) => h && h !== '0.0.0.0' && h !== '::'))];
      serverCert = await Authority.sign(caKeys, caPem, `CN=${SERVER_NAME}`, keys.publicKey, [
        new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }))),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ], 2 * YEAR_MS);
      serverKey = keys.key;
      writeSecret(f('server.key'), serverKey);
      writeFileSync(f('server.crt'), serverCert);
    }
    return new Authority(dir, caKeys, caPem, serverKey, serverCert);
  }

  private static async newCa(): Promise<CaPair> {
    const keys = await newKeyPair();
    const now = Date.now();
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(), name: `CN=orch cluster CA ${randomBytes(4).toString('hex')}`,
      notBefore: new Date(now - 60_000), notAfter: new Date(now + 10 * YEAR_MS), keys, signingAlgorithm: KEY_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ],
    });
    return { cert: pemOf(ca), key: keys.key };
  }

  /** The CA's fingerprint without loading keys (for `orch cluster token`): undefined before the first fleet start. */
  static fingerprintAt(home: string): string | undefined {
    const ca = join(tlsDir(home), 'ca.crt');
    return existsSync(ca) ? certFingerprint(readFileSync(ca, 'utf8')) : undefined;
  }

  private static async sign(caKeys: KeyPairPem, caPem: string, subject: string, publicKey: CryptoKey, extensions: x509.Extension[], lifeMs: number): Promise<string> {
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(), subject, issuer: new x509.X509Certificate(caPem).subject,
      notBefore: new Date(now - 60_000), notAfter: new Date(now + lifeMs),
      signingAlgorithm: KEY_ALG, publicKey, signingKey: caKeys.privateKey,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true), ...extensions],
    });
    return pemOf(cert);
  }

  /** A client certificate for node `name` over the CSR's key (already checked by the caller). */
  async signNode(name: string, publicKey: CryptoKey): Promise<string> {
    return Authority.sign(this.caKeys, this.caPem, `CN=${name}`, publicKey, [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ], 2 * YEAR_MS);
  }

  /**
   * TLS only; a client certificate is asked for but not required (a CLI with a token, a
   * node enrolling, have none). One that is presented must chain to this CA, or the
   * call carries no identity (grpc-js's getAuthContext() exposes only verified peers).
   */
  serverCredentials(): ServerCredentials {
    // Answered on the next tick: grpc-js adds its watcher only after subscribing, and a
    // synchronous answer would reach nobody (the server would drop every connection).
    const fixed: experimental.CertificateProvider = {
      addCaCertificateListener: (l) => queueMicrotask(() => l({ caCertificate: Buffer.from(this.caPem) })),
      removeCaCertificateListener: () => undefined,
      // The chain carries the CA, so a client holding only the join token can find and pin it.
      addIdentityCertificateListener: (l) => queueMicrotask(() => l({ certificate: Buffer.from(`${this.serverCert.trimEnd()}\n${this.caPem.trimEnd()}\n`), privateKey: Buffer.from(this.serverKey) })),
      removeIdentityCertificateListener: () => undefined,
    };
    return experimental.createCertificateProviderServerCredentials(fixed, fixed, false);
  }
}
