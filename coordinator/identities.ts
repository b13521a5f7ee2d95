// Node identities: which certificate is node NAME. A node enrols once (CSR + cluster
// token) and is that name from then on; another process cannot register, heartbeat,
// report or push output under it. `orch node revoke NAME` refuses the certificate and
// frees the name for a new enrolment.
import { nodeNameProblem } from '../runtime/names.js';
import { certFingerprint, readCsr } from '../runtime/tls/x509.js';
import type { IdentityStore, NodeIdentity } from './store/identities.js';
import type { Authority } from './tls/authority.js';

export class PermissionDeniedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermissionDeniedError';
  }
}

/** Why `name` may not enrol with a key of fingerprint `key`, or undefined. Pure. */
export function enrolRefusal(existing: NodeIdentity | undefined, name: string, key: string): string | undefined {
  if (!existing || existing.revokedAt) return undefined;
  if (existing.keyFingerprint === key) return undefined; // the same node again (it lost its certificate, kept its key)
  return `node name "${name}" is already enrolled (since ${existing.enrolledAt.toISOString()}) with another key: `
    + `pick another --name, or run \`orch node revoke ${name}\` first if that node is gone`;
}

/** Why a peer certificate of fingerprint `fp` is not node `name`, or undefined. Pure. */
export function certRefusal(existing: NodeIdentity | undefined, name: string, fp: string): string | undefined {
  if (!existing) return `node "${name}" has no enrolled identity: start it with the join token from \`orch cluster token\``;
  if (existing.revokedAt) return `node "${name}"'s certificate was revoked at ${existing.revokedAt.toISOString()}: delete its tls/node.crt and start it again with the join token to enrol anew`;
  if (existing.certFingerprint !== fp) return `this certificate is not the one node "${name}" enrolled with`;
  return undefined;
}

export class Identities {
  private cache = new Map<string, NodeIdentity | undefined>();

  constructor(private readonly store: IdentityStore, readonly authority: Authority) {}

  private async lookup(name: string): Promise<NodeIdentity | undefined> {
    if (!this.cache.has(name)) this.cache.set(name, await this.store.get(name));
    return this.cache.get(name);
  }

  /** Sign a certificate for the CSR's name; refused when the name is held by another key. */
  async enrol(name: string, csrPem: string): Promise<{ cert: string; ca: string }> {
    const problem = nodeNameProblem(name);
    if (problem) throw new PermissionDeniedError(problem);
    let csr;
    try {
      csr = await readCsr(csrPem);
    } catch (err) {
      throw new PermissionDeniedError(`enrolment of node "${name}" refused: ${(err as Error).message}`);
    }
    if (csr.name !== name) throw new PermissionDeniedError(`enrolment refused: the request names node "${name}" but its CSR is for "${csr.name}"`);
    const refusal = enrolRefusal(await this.store.get(name), name, csr.keyFingerprint);
    if (refusal) throw new PermissionDeniedError(refusal);
    const cert = await this.authority.signNode(name, csr.publicKey);
    const fp = certFingerprint(cert);
    const now = await this.store.enrol(name, fp, csr.keyFingerprint);
    this.cache.set(name, now);
    // Another enrolment of the name won the race in between.
    if (now.certFingerprint !== fp) throw new PermissionDeniedError(enrolRefusal(now, name, csr.keyFingerprint) ?? `node name "${name}" was enrolled by another request`);
    return { cert, ca: this.authority.caPem };
  }

  /**
   * A CLI user's certificate: CN `cli.NAME` (or `cli-ro.NAME`, reads only). Names with a dot
   * are never node names, so a CLI certificate cannot act as a node nor the other way round.
   */
  async issueCli(name: string, csrPem: string, readOnly: boolean): Promise<{ name: string; cert: string; ca: string }> {
    const problem = nodeNameProblem(name);
    if (problem) throw new PermissionDeniedError(problem.replace('node name', 'CLI user name'));
    const full = `${readOnly ? 'cli-ro' : 'cli'}.${name}`;
    let csr;
    try {
      csr = await readCsr(csrPem);
    } catch (err) {
      throw new PermissionDeniedError(`CLI certificate for ${full} refused: ${(err as Error).message}`);
    }
    if (csr.name !== full) throw new PermissionDeniedError(`CLI certificate refused: the CSR is for "${csr.name}", expected "${full}"`);
    const refusal = enrolRefusal(await this.store.get(full), full, csr.keyFingerprint);
    if (refusal) throw new PermissionDeniedError(refusal);
    const cert = await this.authority.signNode(full, csr.publicKey);
    const now = await this.store.enrol(full, certFingerprint(cert), csr.keyFingerprint);
    this.cache.set(full, now);
    if (now.certFingerprint !== certFingerprint(cert)) throw new PermissionDeniedError(`"${full}" was enrolled by another request`);
    return { name: full, cert, ca: this.authority.caPem };
  }

  /** Throws PermissionDeniedError unless the verified peer certificate (DER) is node `name`'s enrolled one. */
  async check(name: string, certDer: Buffer): Promise<void> {
    const refusal = certRefusal(await this.lookup(name), name, certFingerprint(certDer));
    if (refusal) throw new PermissionDeniedError(refusal);
  }

  async revoke(name: string): Promise<NodeIdentity | undefined> {
    const r = await this.store.revoke(name);
    this.cache.set(name, r);
    return r;
  }

  list(): Promise<NodeIdentity[]> { return this.store.list(); }
}
