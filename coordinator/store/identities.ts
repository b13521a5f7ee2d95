// Enrolled node identities in PostgreSQL (migration 007): name -> certificate and key
// fingerprints, when enrolled, when revoked.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import type pg from 'pg';

export interface NodeIdentity {
  name: string;
  certFingerprint: string;
  keyFingerprint: string;
  enrolledAt: Date;
  revokedAt: Date | null;
}

function row(r: Record<string, unknown>): NodeIdentity {
  return {
    name: r.name as string, certFingerprint: r.cert_fingerprint as string, keyFingerprint: r.key_fingerprint as string,
    enrolledAt: r.enrolled_at as Date, revokedAt: (r.revoked_at as Date | null) ?? null,
  };
}

export class IdentityStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(name: string): Promise<NodeIdentity | undefined> {
    const r = await this.pool.query('select * from node_identities where name = $1', [name]);
    return r.rows[0] ? row(r.rows[0]) : undefined;
  }

  async list(): Promise<NodeIdentity[]> {
    return (await this.pool.query('select * from node_identities order by name')).rows.map(row);
  }

  /**
   * Record `name`'s new certificate unless an active identity with another key holds the
   * name (two enrolments racing: the first wins). Returns the identity now on record.
   */
  async enrol(name: string, certFingerprint: string, keyFingerprint: string): Promise<NodeIdentity> {
    const r = await this.pool.query(
      `insert into node_identities (name, cert_fingerprint, key_fingerprint) values ($1, $2, $3)
       on conflict (name) do update set cert_fingerprint = excluded.cert_fingerprint, key_fingerprint = excluded.key_fingerprint,
         enrolled_at = now(), revoked_at = null
       where node_identities.revoked_at is not null or node_identities.key_fingerprint = excluded.key_fingerprint
       returning *`,
      [name, certFingerprint, keyFingerprint]);
    return r.rows[0] ? row(r.rows[0]) : (await this.get(name))!;
  }

  /** Mark revoked; undefined when the name never enrolled. */
  async revoke(name: string): Promise<NodeIdentity | undefined> {
    const r = await this.pool.query('update node_identities set revoked_at = coalesce(revoked_at, now()) where name = $1 returning *', [name]);
    return r.rows[0] ? row(r.rows[0]) : undefined;
  }
}

export interface CaPair { cert: string; key: string }

const SEALED = 'orch-sealed:v1:';

/**
 * The CA's key as it rests in the database: AES-256-GCM under a key derived (scrypt, a
 * random salt per sealing) from the cluster token, so whoever reads the database (a
 * backup, another admin of a shared server) cannot issue node certificates without the
 * token as well. As k3s keeps its bootstrap data in its datastore.
 */
export function sealCaKey(keyPem: string, secret: string): string {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', scryptSync(secret, salt, 32), iv);
  const body = Buffer.concat([c.update(keyPem, 'utf8'), c.final(), c.getAuthTag()]);
  return `${SEALED}${salt.toString('base64')}:${iv.toString('base64')}:${body.toString('base64')}`;
}

/** The key sealed by sealCaKey; throws when the secret is not the one it was sealed with. */
export function unsealCaKey(sealed: string, secret: string): string {
  const [salt, iv, body] = sealed.slice(SEALED.length).split(':').map((p) => Buffer.from(p, 'base64'));
  const d = createDecipheriv('aes-256-gcm', scryptSync(secret, salt, 32), iv);
  d.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
}

/** The CA on record cannot be opened with this coordinator's cluster token. */
export class CaSealedError extends Error {
  constructor(readonly cert: string) {
    super('the cluster CA in the database is sealed with another cluster token: start this coordinator with the cluster\'s token '
      + '(cluster.token, ORCH_TOKEN or ORCH_TOKEN_FILE); to change the token, start the coordinator that made the CA (it keeps tls/ca.key) with the new one once, and it seals the CA again');
    this.name = 'CaSealedError';
  }
}

/**
 * The one cluster CA: the first coordinator to save one wins; the others load it. With a
 * secret (the cluster token; a fleet always has one) the key is sealed at rest, and a key
 * found in the clear (saved by an earlier version) is sealed on load.
 */
export class ClusterCaStore {
  constructor(private readonly pool: pg.Pool, private readonly secret?: string) {}

  private seal(key: string): string { return this.secret ? sealCaKey(key, this.secret) : key; }

  async load(): Promise<CaPair | undefined> {
    const r = await this.pool.query('select cert_pem, key_pem from cluster_ca where id = 1');
    if (!r.rows[0]) return undefined;
    const cert = r.rows[0].cert_pem as string;
    const stored = r.rows[0].key_pem as string;
    if (!stored.startsWith(SEALED)) {
      if (this.secret) await this.pool.query('update cluster_ca set key_pem = $1 where id = 1 and key_pem = $2', [this.seal(stored), stored]);
      return { cert, key: stored };
    }
    if (!this.secret) throw new CaSealedError(cert);
    try {
      return { cert, key: unsealCaKey(stored, this.secret) };
    } catch {
      throw new CaSealedError(cert);
    }
  }

  /** Save `ca` unless one is there already; returns the one on record. */
  async saveFirst(ca: CaPair): Promise<CaPair> {
    await this.pool.query('insert into cluster_ca (id, cert_pem, key_pem) values (1, $1, $2) on conflict (id) do nothing', [ca.cert, this.seal(ca.key)]);
    return (await this.load())!;
  }

  /** Seal the CA on record again with this store's secret (the token changed); `ca` must be the one on record. */
  async reseal(ca: CaPair): Promise<void> {
    const r = await this.pool.query('update cluster_ca set key_pem = $1 where id = 1 and cert_pem = $2', [this.seal(ca.key), ca.cert]);
    if (r.rowCount !== 1) throw new Error('the cluster CA on record is not this one: not sealed again');
  }
}
