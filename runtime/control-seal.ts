// Control requests on the bus (kill, attach, ask, bash_job), sealed in a TLS fleet. The bus
// is not bound to identities: whoever holds its credentials (every node does; with an open
// nats-server, anyone who reaches it) could otherwise ask a node to run a command (bash_job)
// or an agent (ask), or answer in a node's name (a forged review approval, a forged job
// result). So the coordinator signs each request with its server key (a certificate the
// cluster CA issued for serverAuth, which no node or CLI certificate is), fresh and used
// once; a node acts only on such requests, and signs its reply, bound to the request, with
// its enrolled key, which the coordinator checks against the node it asked. In embedded
// mode (no TLS, an in-process bus) nothing is sealed.
import { createPrivateKey, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';

const TAG = 'orch-control/1';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
/** How far a request's time may be from the node's clock (hosts keep time with NTP). */
export const CONTROL_SKEW_MS = 5 * 60_000;

interface Envelope { sealed: string; ts?: number; nonce: string; cert: string; sig: string; body: string }

function covered(kind: 'request' | 'reply', subject: string, nonce: string, ts: number | undefined, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${TAG} ${kind}\n${subject}\n${nonce}\n${ts ?? ''}\n`), body]);
}

function parse(data: Uint8Array): Envelope | undefined {
  const text = Buffer.from(data).toString('utf8');
  if (!text.startsWith('{"sealed":')) return undefined;
  try {
    const e = JSON.parse(text) as Envelope;
    return e.sealed === TAG && typeof e.nonce === 'string' && typeof e.cert === 'string' && typeof e.sig === 'string' && typeof e.body === 'string' ? e : undefined;
  } catch {
    return undefined;
  }
}

interface Signer { key: KeyObject; certB64: string }

function signer(tls: { key?: string; cert?: string } | undefined): Signer | undefined {
  if (!tls?.key || !tls.cert) return undefined;
  return { key: createPrivateKey(tls.key), certB64: new X509Certificate(tls.cert).raw.toString('base64') };
}

/** Refused with the reason (the node or coordinator replies with / logs it). */
export class ControlRefused extends Error {
  constructor(message: string) {
    super(`control ${message}`);
    this.name = 'ControlRefused';
  }
}

/** The coordinator's side: seal each request, open each reply. */
export class ControlClient {
  private readonly s: Signer | undefined;

  /**
   * tls: the coordinator's server key and certificate (undefined in embedded mode);
   * checkNode throws unless a certificate (DER) is node NAME's enrolled one.
   */
  constructor(tls: { key: string; cert: string } | undefined, private readonly checkNode: ((name: string, der: Buffer) => Promise<void>) | undefined) {
    this.s = signer(tls);
  }

  /** One request to node `node` on `subject` through `send`; the reply's body, checked to come from that node. */
  async request(node: string, subject: string, body: Uint8Array, send: (data: Uint8Array) => Promise<Uint8Array>): Promise<Uint8Array> {
    if (!this.s) return send(body);
    const ts = Date.now();
    const nonce = randomBytes(16).toString('hex');
    const b = Buffer.from(body);
    const env: Envelope = { sealed: TAG, ts, nonce, cert: this.s.certB64, sig: sign('sha256', covered('request', subject, nonce, ts, b), this.s.key).toString('base64'), body: b.toString('base64') };
    const out = await send(Buffer.from(JSON.stringify(env)));
    const reply = parse(out);
    if (!reply) throw new ControlRefused(`reply refused: node ${node}'s answer is not sealed (a node of a TLS fleet signs its replies)`);
    if (reply.nonce !== nonce) throw new ControlRefused(`reply refused: it answers another request than the one sent to node ${node}`);
    const der = Buffer.from(reply.cert, 'base64');
    if (this.checkNode) {
      try {
        await this.checkNode(node, der);
      } catch (err) {
        throw new ControlRefused(`reply refused: not from node ${node} (${(err as Error).message})`);
      }
    }
    const replyBody = Buffer.from(reply.body, 'base64');
    let ok = false;
    try {
      ok = verify('sha256', covered('reply', subject, nonce, undefined, replyBody), new X509Certificate(der).publicKey, Buffer.from(reply.sig, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) throw new ControlRefused(`reply refused: its signature does not match node ${node}'s certificate`);
    return replyBody;
  }
}

/** A node's side: open each request (only the coordinator's, fresh, once) and seal the reply. */
export class ControlServer {
  private readonly s: Signer | undefined;
  private readonly ca: X509Certificate | undefined;
  private seen = new Map<string, number>();

  /** tls: the cluster CA (PEM) the node pinned, and its own key and certificate; undefined in embedded mode. */
  constructor(tls: { ca: string; key?: string; cert?: string } | undefined, private readonly now: () => number = Date.now) {
    this.ca = tls?.ca ? new X509Certificate(tls.ca) : undefined;
    this.s = signer(tls);
  }

  /** Answer `data` (a request on `subject`) with `handle`'s reply to its body; throws ControlRefused for a request not to act on. */
  async serve(subject: string, data: Uint8Array, handle: (body: Uint8Array) => Promise<Uint8Array>): Promise<Uint8Array> {
    if (!this.ca) return handle(data);
    const req = parse(data);
    if (!req) throw new ControlRefused('request refused: not sealed by the coordinator (in a TLS fleet the coordinator signs every control request)');
    const body = Buffer.from(req.body, 'base64');
    this.checkRequest(subject, req, body);
    const reply = Buffer.from(await handle(body));
    if (!this.s) return reply;
    const env: Envelope = { sealed: TAG, nonce: req.nonce, cert: this.s.certB64, sig: sign('sha256', covered('reply', subject, req.nonce, undefined, reply), this.s.key).toString('base64'), body: reply.toString('base64') };
    return Buffer.from(JSON.stringify(env));
  }

  private checkRequest(subject: string, req: Envelope, body: Buffer): void {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(req.cert, 'base64'));
    } catch {
      throw new ControlRefused('request refused: its certificate is unreadable');
    }
    const now = this.now();
    if (!cert.verify(this.ca!.publicKey) || !cert.checkIssued(this.ca!)) throw new ControlRefused('request refused: its certificate is not from the cluster CA');
    if (!(cert.keyUsage ?? []).includes(SERVER_AUTH)) throw new ControlRefused('request refused: its certificate is not the coordinator\'s (no serverAuth)');
    if (Date.parse(cert.validTo) < now || Date.parse(cert.validFrom) > now + CONTROL_SKEW_MS) throw new ControlRefused('request refused: the coordinator\'s certificate is out of its validity');
    let ok = false;
    try {
      ok = verify('sha256', covered('request', subject, req.nonce, req.ts, body), cert.publicKey, Buffer.from(req.sig, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) throw new ControlRefused('request refused: its signature does not hold');
    const ts = typeof req.ts === 'number' ? req.ts : NaN;
    if (!(Math.abs(now - ts) <= CONTROL_SKEW_MS)) {
      throw new ControlRefused(`request refused: its time is ${Number.isFinite(ts) ? `${Math.round((ts - now) / 1000)} s` : 'missing'} from this node's clock (more than ${CONTROL_SKEW_MS / 60_000} min: check the hosts' clocks)`);
    }
    for (const [n, at] of this.seen) if (at < now - 2 * CONTROL_SKEW_MS) this.seen.delete(n);
    if (this.seen.has(req.nonce)) throw new ControlRefused('request refused: replayed (this request was already served)');
    this.seen.set(req.nonce, now);
  }
}
