// The cluster CA in PostgreSQL (shared by a standby): its private key rests sealed with the
// cluster token, so the database alone cannot issue node certificates. A coordinator with
// the cluster's token opens it; one with another token is refused with what to do; the
// coordinator that made the CA (it keeps tls/ca.key) seals it anew under a changed token;
// a key an earlier version stored in the clear is sealed at the next start.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../coordinator/store/migrate.js';
import { ClusterCaStore } from '../../coordinator/store/identities.js';
import { Authority } from '../../coordinator/tls/authority.js';
import { startTestDatabase, type TestDatabase } from '../harness/postgres.js';

describe('the cluster CA at rest', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let scratch: string;
  const home = (n: string) => join(scratch, n);
  const stored = async () => (await pool.query('select cert_pem, key_pem from cluster_ca where id = 1')).rows[0] as { cert_pem: string; key_pem: string } | undefined;

  beforeAll(async () => {
    db = await startTestDatabase();
    pool = new pg.Pool({ connectionString: db.url });
    await migrate(pool);
    scratch = mkdtempSync(join(tmpdir(), 'orch-ca-'));
  }, 120_000);

  afterAll(async () => {
    await pool?.end();
    await db?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('is sealed with the cluster token: the same token opens it on a standby, another token is refused with what to do', async () => {
    const first = await Authority.open(home('a'), [], new ClusterCaStore(pool, 'token-one'));
    const row = (await stored())!;
    expect(row.cert_pem).toBe(first.caPem);
    expect(row.key_pem).toMatch(/^orch-sealed:v1:/);
    expect(row.key_pem).not.toContain('PRIVATE KEY');
    // The key itself is not in the row in any encoding.
    const localKey = readFileSync(join(home('a'), 'tls', 'ca.key'), 'utf8');
    const der = Buffer.from(localKey.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    expect(row.key_pem).not.toContain(der.toString('base64'));
    expect(Buffer.from(row.key_pem.split(':').at(-1)!, 'base64').includes(der)).toBe(false);

    const standby = await Authority.open(home('b'), [], new ClusterCaStore(pool, 'token-one'));
    expect(standby.fingerprint).toBe(first.fingerprint);
    // It signs node certificates with the same key: the standby's issue verifies under the first's CA.
    expect(readFileSync(join(home('b'), 'tls', 'ca.key'), 'utf8')).toBe(localKey);

    await expect(Authority.open(home('c'), [], new ClusterCaStore(pool, 'token-two'))).rejects.toThrow(/sealed with another cluster token: start this coordinator with the cluster's token/);
    await expect(Authority.open(home('c2'), [], new ClusterCaStore(pool))).rejects.toThrow(/sealed with another cluster token/);
  });

  it('a changed token: the coordinator holding tls/ca.key seals it anew, after which the new token opens it and the old one does not', async () => {
    const before = (await stored())!.key_pem;
    const maker = await Authority.open(home('a'), [], new ClusterCaStore(pool, 'token-two'));
    const after = (await stored())!.key_pem;
    expect(after).not.toBe(before);
    expect(after).toMatch(/^orch-sealed:v1:/);
    const other = await Authority.open(home('d'), [], new ClusterCaStore(pool, 'token-two'));
    expect(other.fingerprint).toBe(maker.fingerprint);
    await expect(Authority.open(home('e'), [], new ClusterCaStore(pool, 'token-one'))).rejects.toThrow(/sealed with another cluster token/);
  });

  it('a key an earlier version kept in the clear is sealed at the next start, and still the same CA', async () => {
    const key = readFileSync(join(home('a'), 'tls', 'ca.key'), 'utf8');
    await pool.query('update cluster_ca set key_pem = $1 where id = 1', [key]);
    const ca = await Authority.open(home('f'), [], new ClusterCaStore(pool, 'token-two'));
    expect(readFileSync(join(home('f'), 'tls', 'ca.key'), 'utf8')).toBe(key);
    expect(ca.fingerprint).toBe((await Authority.open(home('g'), [], new ClusterCaStore(pool, 'token-two'))).fingerprint);
    expect((await stored())!.key_pem).toMatch(/^orch-sealed:v1:/);
  });
});
