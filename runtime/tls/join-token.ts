// The join token: `orch1.<sha256 of the CA certificate's DER, hex>.<secret>`, as k3s's
// `K10<ca-hash>::<credentials>`. Given only this, a node or CLI verifies the coordinator
// (it pins the CA by its fingerprint) and proves itself (the secret). A bare secret is
// still accepted where no TLS is in play (the embedded single-process default).

export interface JoinToken {
  /** SHA-256 of the cluster CA certificate (DER), lowercase hex. */
  caFingerprint: string;
  /** What goes in `authorization: Bearer`: the cluster token or the read-only token. */
  secret: string;
}

const PREFIX = 'orch1.';

export function formatJoinToken(t: JoinToken): string {
  return `${PREFIX}${t.caFingerprint}.${t.secret}`;
}

/** A join token, or undefined for a plain secret. A value that starts like one but is malformed is an error. */
export function parseJoinToken(value: string): JoinToken | undefined {
  if (!value.startsWith(PREFIX)) return undefined;
  const rest = value.slice(PREFIX.length);
  const dot = rest.indexOf('.');
  const caFingerprint = dot < 0 ? '' : rest.slice(0, dot).toLowerCase();
  const secret = dot < 0 ? '' : rest.slice(dot + 1);
  if (!/^[0-9a-f]{64}$/.test(caFingerprint) || !secret) {
    throw new Error('malformed join token: expected orch1.<64 hex digits of the CA fingerprint>.<secret>, as printed by `orch cluster token`');
  }
  return { caFingerprint, secret };
}

/** The secret part of a token value (the value itself when it is a plain secret). */
export function secretOf(value: string | undefined): string | undefined {
  if (!value) return value;
  return parseJoinToken(value)?.secret ?? value;
}
