// Heartbeats in the bus's KV bucket, sealed with the node's enrolled key. gRPC calls are
// bound to a node's certificate by mutual TLS; the bus is not (any holder of the bus's
// credentials may write any key), so in a TLS fleet a node signs what it puts there and
// the coordinator counts a heartbeat only when the certificate is the one enrolled under
// the key's name, the signature holds, and its sequence number is newer than the last one
// counted. Another process can then neither keep a stopped node alive nor make a live one
// look as if it dropped its attempts. In embedded mode (no identities) nothing is signed.
import { createPrivateKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { NodeInfo, SignedHeartbeat } from '../proto/gen/orch/v1/types.js';

/** The bytes a signature covers: seq (8 bytes, big-endian) then the encoded NodeInfo. */
function covered(seq: number, info: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigInt64BE(BigInt(seq));
  return Buffer.concat([head, info]);
}

/** A node's side: seals each heartbeat (signed when the node has an enrolled key and certificate). */
export class HeartbeatSealer {
  private seq = 0;
  private readonly key: KeyObject | undefined;
  private readonly certDer: Buffer;

  constructor(tls?: { key?: string; cert?: string }) {
    this.key = tls?.key && tls.cert ? createPrivateKey(tls.key) : undefined;
    this.certDer = tls?.key && tls.cert ? new X509Certificate(tls.cert).raw : Buffer.alloc(0);
  }

  get signed(): boolean { return !!this.key; }

  seal(info: NodeInfo): Uint8Array {
    // The clock in ms, bumped to stay strictly increasing (so a restart of the node, which
    // starts a new sealer, still counts up).
    this.seq = Math.max(Date.now(), this.seq + 1);
    const bytes = NodeInfo.encode(info).finish();
    const signature = this.key ? sign('sha256', covered(this.seq, bytes), this.key) : Buffer.alloc(0);
    return SignedHeartbeat.encode({ info: Buffer.from(bytes), seq: this.seq, certDer: this.certDer, signature }).finish();
  }
}

/** Throws (with the reason) unless certDer is node `name`'s enrolled, unrevoked certificate. */
export type CertCheck = (name: string, certDer: Buffer) => Promise<void>;

/** A heartbeat to count (info), one refused with the reason, or the last one counted seen again (duplicate). */
export type Opened =
  | { info: NodeInfo; refused?: undefined; duplicate?: undefined }
  | { info?: undefined; refused: string; duplicate?: undefined }
  | { info?: undefined; refused?: undefined; duplicate: true };

/** The coordinator's side: opens heartbeats, checking them when identities are on. */
export class HeartbeatOpener {
  private last = new Map<string, number>();
  private keys = new Map<string, KeyObject>();

  /** check: undefined in embedded mode (no identities: heartbeats are taken as they come). */
  constructor(private readonly check: CertCheck | undefined) {}

  async open(name: string, value: Uint8Array): Promise<Opened> {
    let env: SignedHeartbeat;
    let info: NodeInfo;
    try {
      env = SignedHeartbeat.decode(value);
      info = NodeInfo.decode(env.info);
    } catch (err) {
      return { refused: `malformed heartbeat: ${(err as Error).message}` };
    }
    if (info.name !== name) return { refused: `a heartbeat under "${name}" names node "${info.name}"` };
    if (!this.check) return { info };
    if (!env.certDer.length || !env.signature.length) {
      return { refused: 'unsigned heartbeat: in a TLS fleet a node signs its heartbeats with its enrolled key' };
    }
    const der = Buffer.from(env.certDer);
    try {
      await this.check(name, der);
    } catch (err) {
      return { refused: (err as Error).message };
    }
    let ok = false;
    try {
      ok = verify('sha256', covered(env.seq, env.info), this.publicKey(der), env.signature);
    } catch {
      ok = false;
    }
    if (!ok) return { refused: `the signature does not match node "${name}"'s certificate` };
    const last = this.last.get(name) ?? 0;
    // The last one again (a watch restarted after a reconnect replays every key's last value): not counted twice.
    if (env.seq === last) return { duplicate: true };
    if (env.seq < last) return { refused: `a replayed or out-of-order heartbeat (sequence ${env.seq} is older than the last one counted)` };
    this.last.set(name, env.seq);
    return { info };
  }

  /**
   * Node `name` registered over mutual TLS (it has just started): its next sealed heartbeat
   * counts whatever its sequence, since its clock may have gone back across the restart.
   */
  reset(name: string): void {
    this.last.delete(name);
  }

  private publicKey(der: Buffer): KeyObject {
    const k = der.toString('base64');
    let key = this.keys.get(k);
    if (!key) {
      key = new X509Certificate(der).publicKey;
      if (this.keys.size > 1_000) this.keys.clear();
      this.keys.set(k, key);
    }
    return key;
  }
}
