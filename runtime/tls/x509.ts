// Certificates and keys, made and read with @peculiar/x509 over Node's WebCrypto: one
// curve (ECDSA P-256), PEM on disk, fingerprints as SHA-256 of the DER. Both roles use
// it: the coordinator issues (coordinator/tls), a node enrols (agent-node/enrol.ts).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type CryptoKey = webcrypto.CryptoKey;

export const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** The name in the coordinator's server certificate that every client verifies, whatever address it dials. */
export const SERVER_NAME = 'orch-coordinator';

export interface KeyPairPem { key: string; publicKey: CryptoKey; privateKey: CryptoKey }

export async function newKeyPair(): Promise<KeyPairPem> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { key: toPem(der, 'PRIVATE KEY'), publicKey: keys.publicKey, privateKey: keys.privateKey };
}

/** A PKCS#8 PEM private key (as written by newKeyPair) back to a key pair. */
export async function loadKeyPair(pem: string): Promise<KeyPairPem> {
  const der = fromPem(pem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, KEY_ALG, true, ['sign']);
  // WebCrypto has no private -> public; a JWK of the private key carries x and y.
  const jwk = await webcrypto.subtle.exportKey('jwk', privateKey);
  const publicKey = await webcrypto.subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, KEY_ALG, true, ['verify']);
  return { key: pem, publicKey, privateKey };
}

function toPem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

function fromPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END)[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** SHA-256 of a certificate's DER, lowercase hex: what a join token pins. */
export function certFingerprint(pem: string | Buffer): string {
  const der = Buffer.isBuffer(pem) ? pem : Buffer.from(new x509.X509Certificate(pem).rawData);
  return createHash('sha256').update(der).digest('hex');
}

/** SHA-256 of a public key's SubjectPublicKeyInfo: the same key gives the same value across certificates. */
export async function keyFingerprint(publicKey: CryptoKey): Promise<string> {
  return createHash('sha256').update(Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey))).digest('hex');
}

/** A certificate's common name (CN), or ''. */
export function commonName(pem: string): string {
  const cert = new x509.X509Certificate(pem);
  return cert.subjectName.getField('CN')[0] ?? '';
}

export function certExpiry(pem: string): Date {
  return new x509.X509Certificate(pem).notAfter;
}

/** A certificate signing request for `name` (CN and a DNS SAN). */
export async function makeCsr(name: string, keys: KeyPairPem): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`, keys: { publicKey: keys.publicKey, privateKey: keys.privateKey }, signingAlgorithm: KEY_ALG,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }])],
  });
  return csr.toString('pem');
}

export interface ParsedCsr { name: string; publicKey: CryptoKey; keyFingerprint: string }

/** Parse and check a CSR's own signature; throws with a reason a node operator can read. */
export async function readCsr(pem: string): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new Error(`not a PEM certificate signing request: ${(err as Error).message}`);
  }
  if (!(await csr.verify())) throw new Error('the certificate signing request is not signed by its own key');
  const publicKey = await csr.publicKey.export(KEY_ALG, ['verify']);
  return { name: csr.subjectName.getField('CN')[0] ?? '', publicKey, keyFingerprint: await keyFingerprint(publicKey) };
}

export { x509 };
