// Who may call what. The cluster token may call anything; the read-only token only the
// Coordinator service's reads (status, lists, gets, stream, cost, metrics); with no token
// configured (the embedded default on loopback) everything is open, as before. In a TLS
// fleet, node calls also carry the node's enrolled certificate (see node-gateway.ts).
import { status, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { tokenMatches } from '../../runtime/grpc-auth.js';
import type { Identities } from '../identities.js';

export interface Access {
  /** The cluster token (the secret part of the join token). */
  token?: string;
  /** `cluster.read_token`: reads only. */
  readToken?: string;
  /** Set in a TLS fleet: node calls must come with the node's enrolled certificate. */
  identities?: Identities;
}

/** Coordinator methods a read-only token may call. */
export const READ_METHODS = new Set([
  'GetStatus', 'GetConfig', 'ListTasks', 'GetTask', 'ListProjects', 'ListAgents', 'ListNodes', 'ListJobs',
  'StreamOutput', 'TaskCost', 'GetMetrics', 'ListJobRuns', 'ListLive', 'ReadOutput', 'ReadLog',
]);

export function accessOf(a: Access | string | undefined): Access {
  return typeof a === 'object' ? a : { token: a };
}

/** `/orch.v1.Coordinator/ListTasks` -> ['Coordinator', 'ListTasks']. */
function serviceAndMethod(path: string): [string, string] {
  const [svc = '', method = ''] = path.replace(/^\//, '').split('/');
  return [svc.slice(svc.lastIndexOf('.') + 1), method];
}

/** A verified client certificate's CN and DER (grpc-js exposes only certificates that chain to our CA). */
function peerCert(call: unknown): { cn: string; raw: Buffer } | undefined {
  const ctx = (call as { getAuthContext?: () => { sslPeerCertificate?: { subject?: { CN?: string | string[] }; raw?: Buffer } } | null }).getAuthContext?.();
  const cert = ctx?.sslPeerCertificate;
  const cn = Array.isArray(cert?.subject?.CN) ? cert!.subject!.CN[0] : cert?.subject?.CN;
  return cert?.raw && cn ? { cn, raw: cert.raw } : undefined;
}

/**
 * The refusal of a call, or undefined: the tokens first, then (in a TLS fleet, for the
 * Coordinator service) a CLI user's certificate `cli.NAME` / `cli-ro.NAME` that is on record
 * and not revoked.
 */
export async function authorize(a: Access | string | undefined, call: { metadata: Metadata; getPath(): string }): Promise<Partial<ServiceError> | undefined> {
  const access = accessOf(a);
  const byToken = refusal(access, call.metadata, call.getPath());
  if (!byToken || byToken.code === status.PERMISSION_DENIED || !access.identities) return byToken;
  const peer = peerCert(call);
  const m = peer && /^(cli|cli-ro)\.[A-Za-z0-9_-]+$/.exec(peer.cn);
  if (!peer || !m) return byToken;
  const [svc, method] = serviceAndMethod(call.getPath());
  if (svc !== 'Coordinator') return { code: status.PERMISSION_DENIED, details: `a CLI certificate (${peer.cn}) cannot call ${method}` };
  try {
    await access.identities.check(peer.cn, peer.raw);
  } catch (err) {
    return { code: status.PERMISSION_DENIED, details: (err as Error).message };
  }
  if (m[1] === 'cli-ro' && !READ_METHODS.has(method)) {
    return { code: status.PERMISSION_DENIED, details: `a read-only CLI certificate (${peer.cn}) cannot call ${method}` };
  }
  return undefined;
}

/** The refusal of a call by its token, or undefined when it may go ahead. */
export function refusal(a: Access | string | undefined, md: Metadata, path: string): Partial<ServiceError> | undefined {
  const access = accessOf(a);
  if (!access.token || tokenMatches(access.token, md)) return undefined;
  if (access.readToken && tokenMatches(access.readToken, md)) {
    const [svc, method] = serviceAndMethod(path);
    if (svc === 'Coordinator' && READ_METHODS.has(method)) return undefined;
    return { code: status.PERMISSION_DENIED, details: `a read-only token cannot call ${method || path}: use the cluster token (orch cluster token) for changes` };
  }
  return {
    code: status.UNAUTHENTICATED,
    details: 'missing or wrong cluster token: set ORCH_TOKEN or ORCH_TOKEN_FILE to the join token from `orch cluster token` (or cluster.token in config.yml)',
  };
}
