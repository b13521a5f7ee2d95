// Enrolled node identities in PostgreSQL (migration 007): name -> certificate and key
// fingerprints, when enrolled, when revoked.
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

/** The one cluster CA: the first coordinator to save one wins; the others load it. */
export class ClusterCaStore {
  constructor(private readonly pool: pg.Pool) {}

  async load(): Promise<CaPair | undefined> {
    const r = await this.pool.query('select cert_pem, key_pem from cluster_ca where id = 1');
    return r.rows[0] ? { cert: r.rows[0].cert_pem as string, key: r.rows[0].key_pem as string } : undefined;
  }

  /** Save `ca` unless one is there already; returns the one on record. */
  async saveFirst(ca: CaPair): Promise<CaPair> {
    await this.pool.query('insert into cluster_ca (id, cert_pem, key_pem) values (1, $1, $2) on conflict (id) do nothing', [ca.cert, ca.key]);
    return (await this.load())!;
  }
}
