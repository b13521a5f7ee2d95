// Binding node calls to the caller's certificate: in a TLS fleet a call that names node
// X (Register, Heartbeat, reports) or touches an attempt placed on X must come over a
// connection whose verified client certificate is X's enrolled one. Anything else is
// refused with PERMISSION_DENIED and a reason; the real node's work is not touched.
import type { PeerCertificate } from 'node:tls';
import type { Coordinator } from '../coordinator.js';
import { PermissionDeniedError, type Identities } from '../identities.js';
import { logger } from '../../runtime/log.js';

const log = logger('identities');

/** A refusal, logged (a node acting as another is worth an operator's look). */
function deny(message: string): PermissionDeniedError {
  log.warn('node call refused', { err: message });
  return new PermissionDeniedError(message);
}

interface CallWithAuth { getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null }

export class NodeBinding {
  private refusals = new Set<string>();
  private checked = new WeakMap<object, Map<string, string | undefined>>();

  constructor(private readonly c: Coordinator, private readonly identities: Identities | undefined) {}

  /** The node the caller's enrolled certificate names; undefined when identities are off (embedded mode). */
  async nodeOf(call: CallWithAuth): Promise<string | undefined> {
    if (!this.identities) return undefined;
    const cert = call.getAuthContext?.()?.sslPeerCertificate;
    if (!cert?.raw) {
      throw deny('node calls need the node\'s enrolled certificate (mutual TLS): start the node with the join token from `orch cluster token`');
    }
    const cn = cert.subject?.CN;
    const name = Array.isArray(cn) ? cn[0] : cn;
    if (!name) throw deny('the client certificate names no node (no CN)');
    try {
      await this.identities.check(name, cert.raw);
    } catch (err) {
      if (err instanceof PermissionDeniedError) log.warn('node call refused', { node: name, err: err.message });
      throw err;
    }
    return name;
  }

  /** Refuse unless the caller is node `claimed`. */
  async asNode(call: CallWithAuth, claimed: string): Promise<void> {
    const me = await this.nodeOf(call);
    if (me !== undefined && me !== claimed) {
      throw deny(`this connection is node "${me}" (by its certificate): it may not act as node "${claimed}"`);
    }
  }

  /** Refuse unless the attempt is placed on the caller's node. */
  async ownsAttempt(call: CallWithAuth, taskId: number, attempt: number): Promise<void> {
    const me = await this.nodeOf(call);
    if (me === undefined) return;
    const a = await this.c.store.getAttempt(taskId, attempt);
    if (a?.node && a.node !== me) {
      throw deny(`task ${taskId} attempt ${attempt} runs on node "${a.node}", not on "${me}" (this connection's certificate)`);
    }
  }

  /** For a stream of chunks: the refusal of this attempt's output from this call (checked once per attempt), or undefined. */
  async refusesAttempt(call: CallWithAuth, taskId: number, attempt: number): Promise<string | undefined> {
    if (!this.identities) return undefined;
    let seen = this.checked.get(call);
    if (!seen) this.checked.set(call, (seen = new Map()));
    const k = `${taskId}/${attempt}`;
    if (!seen.has(k)) {
      try {
        await this.ownsAttempt(call, taskId, attempt);
        seen.set(k, undefined);
      } catch (err) {
        if (!(err instanceof PermissionDeniedError)) throw err;
        seen.set(k, err.message);
        this.refusals.add(err.message);
      }
    }
    return seen.get(k);
  }

  /** Whether a refusal reason came from here (PERMISSION_DENIED) rather than from fencing. */
  denied(reason: string): boolean {
    return this.refusals.has(reason);
  }
}
