// Sealed heartbeats on the bus: in a TLS fleet only node X's enrolled key makes a heartbeat
// that counts for X; old or foreign ones are refused with a reason. Real keys and
// certificates from the cluster CA (coordinator/tls), no identity store: the check is the
// same fingerprint comparison the coordinator makes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authority } from '../../coordinator/tls/authority.js';
import { NodeInfo, SignedHeartbeat } from '../../proto/gen/orch/v1/types.js';
import { HeartbeatOpener, HeartbeatSealer, type CertCheck } from '../../runtime/heartbeat-seal.js';
import { certFingerprint, newKeyPair } from '../../runtime/tls/x509.js';

const info = (name: string, held: string[] = []) => NodeInfo.fromPartial({ name, slots: 2, held });

describe('sealed heartbeats', () => {
  let home: string;
  const nodes: Record<string, { key: string; cert: string }> = {};
  let check: CertCheck;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'orch-hb-'));
    const ca = await Authority.open(home);
    for (const name of ['node1', 'mallory']) {
      const keys = await newKeyPair();
      nodes[name] = { key: keys.key, cert: await ca.signNode(name, keys.publicKey) };
    }
    const enrolled = new Map(Object.entries(nodes).map(([n, v]) => [n, certFingerprint(v.cert)]));
    check = async (name, der) => {
      if (enrolled.get(name) !== certFingerprint(der)) throw new Error(`this certificate is not the one node "${name}" enrolled with`);
    };
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('embedded mode: an unsigned heartbeat counts as it is', async () => {
    const o = await new HeartbeatOpener(undefined).open('local', new HeartbeatSealer().seal(info('local', ['t1'])));
    expect(o.info?.held).toEqual(['t1']);
  });

  it('a TLS fleet counts node1\'s own sealed heartbeats, each once, in order', async () => {
    const opener = new HeartbeatOpener(check);
    const sealer = new HeartbeatSealer(nodes.node1);
    const first = sealer.seal(info('node1', ['a']));
    const second = sealer.seal(info('node1', ['a', 'b']));
    expect((await opener.open('node1', first)).info?.held).toEqual(['a']);
    expect((await opener.open('node1', second)).info?.held).toEqual(['a', 'b']);
    // The same value again (a restarted KV watch replays it): not counted a second time.
    expect(await opener.open('node1', second)).toEqual({ duplicate: true });
    // An older one (replayed by whoever can read the bucket): refused.
    expect((await opener.open('node1', first)).refused).toMatch(/replayed or out-of-order/);
  });

  it('refuses what another process writes under node1: unsigned, signed by another node, tampered, mislabelled, garbage', async () => {
    const opener = new HeartbeatOpener(check);
    expect((await opener.open('node1', new HeartbeatSealer().seal(info('node1')))).refused).toMatch(/unsigned heartbeat/);
    expect((await opener.open('node1', new HeartbeatSealer(nodes.mallory).seal(info('node1')))).refused).toMatch(/not the one node "node1" enrolled with/);
    // node1's certificate with mallory's key: the signature does not hold.
    const borrowed = new HeartbeatSealer({ key: nodes.mallory.key, cert: nodes.node1.cert }).seal(info('node1'));
    expect((await opener.open('node1', borrowed)).refused).toMatch(/signature does not match/);
    // node1's genuine heartbeat with its attempts removed after signing.
    const genuine = SignedHeartbeat.decode(new HeartbeatSealer(nodes.node1).seal(info('node1', ['running-attempt'])));
    const tampered = SignedHeartbeat.encode({ ...genuine, info: Buffer.from(NodeInfo.encode(info('node1', [])).finish()) }).finish();
    expect((await opener.open('node1', tampered)).refused).toMatch(/signature does not match/);
    // node1's genuine heartbeat put under another key.
    expect((await opener.open('node2', new HeartbeatSealer(nodes.node1).seal(info('node1')))).refused).toMatch(/under "node2" names node "node1"/);
    expect((await opener.open('node1', Buffer.from('not a heartbeat'))).refused).toMatch(/malformed heartbeat/);
    // None of it counted: node1's real heartbeat is still the first one seen.
    expect((await opener.open('node1', new HeartbeatSealer(nodes.node1).seal(info('node1', ['x'])))).info?.held).toEqual(['x']);
  });

  it('after node1 registers again (a restart whose clock went back), its lower sequence counts', async () => {
    const opener = new HeartbeatOpener(check);
    const later = SignedHeartbeat.decode(new HeartbeatSealer(nodes.node1).seal(info('node1')));
    // A heartbeat from "the future" (the node's clock was ahead before its restart).
    const ahead = new HeartbeatSealer(nodes.node1);
    (ahead as unknown as { seq: number }).seq = later.seq + 3_600_000;
    expect((await opener.open('node1', ahead.seal(info('node1')))).info).toBeDefined();
    const restarted = new HeartbeatSealer(nodes.node1);
    expect((await opener.open('node1', restarted.seal(info('node1')))).refused).toMatch(/out-of-order/);
    opener.reset('node1');
    expect((await opener.open('node1', restarted.seal(info('node1', ['new'])))).info?.held).toEqual(['new']);
  });
});
