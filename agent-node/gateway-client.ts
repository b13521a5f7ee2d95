// The node's gRPC client of the coordinator's NodeGateway, with the cluster token
// and retries: a coordinator that restarts delays reports, it does not lose them.
// Given several coordinator addresses (a leader and its standbys), it moves on to the
// next whenever the one it uses is unreachable, so it follows whichever one leads.
import { credentials, status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  NodeGatewayClient, type AttemptStarted, type HeartbeatAck, type HeldAttempt, type OutputChunk, type RegisterRequest,
  type RegisterResponse, type ReportAck, type UploadOutputResponse,
} from '../proto/gen/orch/v1/node.js';
import type { AttachFrame, AttemptResult, NodeInfo } from '../proto/gen/orch/v1/types.js';
import { backoffMs } from '../runtime/actor.js';
import { tokenMetadata } from '../runtime/grpc-auth.js';
import { logger } from '../runtime/log.js';
import { channelCredentials, channelOptions, type ClientTls } from '../runtime/tls/channel.js';

const log = logger('gateway-client');

/** Errors worth retrying: the coordinator is away, not refusing. */
export function transient(err: ServiceError): boolean {
  return [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED, status.INTERNAL, status.UNKNOWN].includes(err.code);
}

/** `a:1,b:2` -> ['a:1', 'b:2']. */
export function coordinatorAddresses(list: string): string[] {
  return list.split(',').map((s) => s.trim()).filter(Boolean);
}

type Unary = 'register' | 'reportStarted' | 'reportResult' | 'heartbeat' | 'checkLease';

export class GatewayClient {
  private clients: NodeGatewayClient[];
  private current = 0;
  private closed = false;
  readonly addresses: string[];

  /** `tls`: the pinned cluster CA and this node's certificate (mutual TLS); plaintext without. */
  private readonly plaintext: boolean;

  constructor(address: string, private readonly token?: string, tls?: ClientTls) {
    this.plaintext = !tls;
    this.addresses = coordinatorAddresses(address);
    if (!this.addresses.length) throw new Error('no coordinator address given');
    this.clients = this.addresses.map((a) => new NodeGatewayClient(a, tls ? channelCredentials(tls) : credentials.createInsecure(), {
      ...channelOptions(tls),
      'grpc.keepalive_time_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2_000,
    }));
  }

  get address(): string { return this.addresses[this.current]; }

  /** W3C trace context of the attempt a call is about, carried in the call's metadata. */
  private metadata(trace?: Record<string, string>) {
    const md = tokenMetadata(this.token);
    for (const [k, v] of Object.entries(trace ?? {})) if (k === 'traceparent' || k === 'tracestate') md.set(k, v);
    return md;
  }

  private unary<Req, Res>(method: Unary, req: Req, timeoutMs = 15_000, trace?: Record<string, string>): Promise<Res> {
    const client = this.clients[this.current];
    return new Promise<Res>((resolve, reject) => {
      const fn = client[method] as unknown as (r: Req, md: unknown, o: unknown, cb: (e: ServiceError | null, r: Res) => void) => void;
      fn.call(client, req, this.metadata(trace), { deadline: Date.now() + timeoutMs }, (e, r) => {
        if (e && e.code === status.UNAVAILABLE && this.clients.length > 1) this.current = (this.current + 1) % this.clients.length;
        if (e) reject(e); else resolve(r);
      });
    });
  }

  /** Retry transient failures until `untilMs` passes or the client closes. */
  private async retrying<Res>(what: string, fn: () => Promise<Res>, untilMs = Infinity): Promise<Res> {
    const end = Date.now() + untilMs;
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        const e = err as ServiceError;
        if (this.closed || !transient(e) || Date.now() > end) throw err;
        const d = backoffMs(i, 200, 5_000);
        if (i === 1 || i % 10 === 0) {
          log.warn(`${what}: coordinator unreachable, retrying`, {
            address: this.address, err: e.details || e.message,
            ...(this.plaintext ? { hint: 'a fleet coordinator speaks TLS only: give the node the join token from `orch cluster token`' } : {}),
          });
        }
        await new Promise((r) => setTimeout(r, d));
      }
    }
  }

  register(req: RegisterRequest): Promise<RegisterResponse> {
    return this.retrying('register', () => this.unary('register', req));
  }

  /** Claim an attempt's start; rejects (transient) when the coordinator stays unreachable for `untilMs`. */
  reportStarted(req: AttemptStarted, untilMs = 60_000, trace?: Record<string, string>): Promise<ReportAck> {
    return this.retrying('report start', () => this.unary('reportStarted', req, 15_000, trace), untilMs);
  }

  reportResult(req: AttemptResult, trace?: Record<string, string>): Promise<ReportAck> {
    return this.retrying('report result', () => this.unary('reportResult', req, 15_000, trace));
  }

  /** One try, short deadline: heartbeats come again soon. */
  heartbeat(info: NodeInfo, timeoutMs = 5_000): Promise<HeartbeatAck> {
    return this.unary('heartbeat', info, timeoutMs);
  }

  checkLease(req: HeldAttempt, trace?: Record<string, string>): Promise<ReportAck> {
    return this.retrying('check lease', () => this.unary('checkLease', req, 15_000, trace));
  }

  /** One upload call carrying chunks in order; resolves with the offset the coordinator holds. */
  upload(chunks: OutputChunk[]): Promise<number> {
    const client = this.clients[this.current];
    return new Promise<number>((resolve, reject) => {
      const call = client.uploadOutput(tokenMetadata(this.token), { deadline: Date.now() + 30_000 }, (e: ServiceError | null, r?: UploadOutputResponse) => {
        if (e && e.code === status.UNAVAILABLE && this.clients.length > 1) this.current = (this.current + 1) % this.clients.length;
        if (e) reject(e); else resolve(r!.nextOffset);
      });
      for (const c of chunks) call.write(c);
      call.end();
    });
  }

  /** The node's side of an `orch task attach`: a stream to the coordinator that asked for it. */
  attachSession(): ClientDuplexStream<AttachFrame, AttachFrame> {
    return this.clients[this.current].attachSession(tokenMetadata(this.token));
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients) c.close();
  }
}
