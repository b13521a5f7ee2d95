// Node identities and tokens as decisions (issue 9): the join token's shape, who may enrol
// under a name, which certificate is a node, and what a read-only token may call. Plus
// the certificates themselves: a CA made under a home, a node's CSR signed for its name,
// chained to that CA, reloaded on restart.
import { Metadata, status } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { refusal } from '../../coordinator/grpc/access.js';
import { certRefusal, enrolRefusal } from '../../coordinator/identities.js';
import type { NodeIdentity } from '../../coordinator/store/identities.js';
import { Authority } from '../../coordinator/tls/authority.js';
import { formatJoinToken, parseJoinToken, secretOf } from '../../runtime/tls/join-token.js';
import { certFingerprint, commonName, makeCsr, newKeyPair, readCsr, x509 } from '../../runtime/tls/x509.js';

const FP = 'ab'.repeat(32);

describe('join token', () => {
  it.each([
    ['a plain secret', 'sekret-123456', undefined],
    ['a join token', `orch1.${FP}.sekret-123456`, { caFingerprint: FP, secret: 'sekret-123456' }],
    ['a secret holding dots', `orch1.${FP}.a.b.c`, { caFingerprint: FP, secret: 'a.b.c' }],
    ['upper-case hex', `orch1.${FP.toUpperCase()}.s`, { caFingerprint: FP, secret: 's' }],
  ])('%s', (_what, value, parsed) => {
    expect(parseJoinToken(value)).toEqual(parsed);
    expect(secretOf(value)).toBe(parsed?.secret ?? value);
  });

  it.each([
    ['no secret', `orch1.${FP}.`],
    ['a short fingerprint', 'orch1.abcd.secret'],
    ['no fingerprint', 'orch1.secret'],
  ])('refuses %s with a reason', (_what, value) => {
    expect(() => parseJoinToken(value)).toThrow(/malformed join token.*orch cluster token/);
  });

  it('formats what it parses', () => {
    expect(parseJoinToken(formatJoinToken({ caFingerprint: FP, secret: 'x-y' }))).toEqual({ caFingerprint: FP, secret: 'x-y' });
  });
});

const id = (o: Partial<NodeIdentity> = {}): NodeIdentity => ({
  name: 'n1', certFingerprint: 'cert-a', keyFingerprint: 'key-a', enrolledAt: new Date('2026-01-01T00:00:00Z'), revokedAt: null, ...o,
});

describe('enrolment: the first enrolment of a name wins', () => {
  it.each([
    ['a new name', undefined, 'key-b', undefined],
    ['the same key again (the node lost its certificate)', id(), 'key-a', undefined],
    ['another key under an enrolled name', id(), 'key-b', /already enrolled .*another key.*orch node revoke n1/],
    ['another key after a revocation', id({ revokedAt: new Date() }), 'key-b', undefined],
  ])('%s', (_what, existing, key, refused) => {
    const r = enrolRefusal(existing, 'n1', key);
    if (refused) expect(r).toMatch(refused);
    else expect(r).toBeUndefined();
  });
});

describe('a peer certificate is node NAME only if it is the one NAME enrolled with', () => {
  it.each([
    ['the enrolled certificate', id(), 'cert-a', undefined],
    ['no identity', undefined, 'cert-a', /no enrolled identity/],
    ['another certificate', id(), 'cert-b', /not the one node "n1" enrolled with/],
    ['a revoked identity', id({ revokedAt: new Date('2026-02-01T00:00:00Z') }), 'cert-a', /revoked at 2026-02-01/],
  ])('%s', (_what, existing, fp, refused) => {
    const r = certRefusal(existing, 'n1', fp);
    if (refused) expect(r).toMatch(refused);
    else expect(r).toBeUndefined();
  });
});

describe('tokens: who may call what', () => {
  const md = (t?: string) => { const m = new Metadata(); if (t) m.set('authorization', `Bearer ${t}`); return m; };
  const access = { token: 'full-token-1', readToken: 'read-token-1' };
  it.each([
    ['no token configured: open (embedded, loopback)', {}, undefined, '/orch.v1.Coordinator/AddTask', undefined],
    ['the cluster token: anything', access, 'full-token-1', '/orch.v1.Coordinator/AddTask', undefined],
    ['the read-only token: a read', access, 'read-token-1', '/orch.v1.Coordinator/ListTasks', undefined],
    ['the read-only token: streaming output', access, 'read-token-1', '/orch.v1.Coordinator/StreamOutput', undefined],
    ['the read-only token: a change', access, 'read-token-1', '/orch.v1.Coordinator/AddTask', status.PERMISSION_DENIED],
    ['the read-only token: revoking a node', access, 'read-token-1', '/orch.v1.Coordinator/RevokeNode', status.PERMISSION_DENIED],
    ['the read-only token: enrolling a node', access, 'read-token-1', '/orch.v1.NodeGateway/Enroll', status.PERMISSION_DENIED],
    ['no token', access, undefined, '/orch.v1.Coordinator/ListTasks', status.UNAUTHENTICATED],
    ['a wrong token', access, 'full-token-2', '/orch.v1.Coordinator/ListTasks', status.UNAUTHENTICATED],
  ])('%s', (_what, a, token, path, code) => {
    const r = refusal(a, md(token), path);
    expect(r?.code).toBe(code);
    if (code === status.PERMISSION_DENIED) expect(r?.details).toMatch(/read-only token cannot call/);
  });
});

describe('certificates', () => {
  const home = mkdtempSync(join(tmpdir(), 'orch-ca-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('a CA under $ORCH_HOME/tls (keys 0600) signs a node\'s CSR for its name, and is the same after a restart', async () => {
    const a = await Authority.open(home, ['10.0.0.1']);
    for (const k of ['ca.key', 'server.key']) expect(statSync(join(home, 'tls', k)).mode & 0o777).toBe(0o600);
    expect(a.fingerprint).toBe(certFingerprint(readFileSync(join(home, 'tls', 'ca.crt'), 'utf8')));
    const keys = await newKeyPair();
    const csr = await readCsr(await makeCsr('node-7', keys));
    expect(csr.name).toBe('node-7');
    const cert = await a.signNode('node-7', csr.publicKey);
    expect(commonName(cert)).toBe('node-7');
    const parsed = new x509.X509Certificate(cert);
    expect(await parsed.verify({ publicKey: new x509.X509Certificate(a.caPem).publicKey, signatureOnly: true })).toBe(true);
    const again = await Authority.open(home);
    expect(again.fingerprint).toBe(a.fingerprint);
    expect(again.serverCert).toBe(a.serverCert);
  });

  it('a CSR whose signature does not match its key is refused', async () => {
    const pem = await makeCsr('n1', await newKeyPair());
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 5] ^= 0xff; // a byte of the signature
    const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(readCsr(broken)).rejects.toThrow(/not signed by its own key|not a PEM certificate signing request/);
  });
});
