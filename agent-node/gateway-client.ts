// The node's gRPC client of the coordinator's NodeGateway, with the cluster token
// and retries: a coordinator that restarts delays reports, it does not lose them.
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { NodeGatewayClient, type AttemptStarted, type OutputChunk, type RegisterRequest, type RegisterResponse, type ReportAck, type UploadOutputResponse } from '../proto/gen/orch/v1/node.js';
import type { AttemptResult } from '../proto/gen/orch/v1/types.js';
import { backoffMs } from '../runtime/actor.js';
import { tokenMetadata } from '../runtime/grpc-auth.js';
import { logger } from '../runtime/log.js';

const log = logger('gateway-client');

/** Errors worth retrying: the coordinator is away, not refusing. */
function transient(err: ServiceError): boolean {
  return [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED, status.INTERNAL, status.UNKNOWN].includes(err.code);
}

export class GatewayClient {
  private client: NodeGatewayClient;
  private closed = false;

  constructor(readonly address: string, private readonly token?: string) {
    this.client = new NodeGatewayClient(address, credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2_000,
    });
  }

  private unary<Req, Res>(method: 'register' | 'reportStarted' | 'reportResult', req: Req, timeoutMs = 15_000): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const fn = this.client[method] as unknown as (r: Req, md: unknown, o: unknown, cb: (e: ServiceError | null, r: Res) => void) => void;
      fn.call(this.client, req, tokenMetadata(this.token), { deadline: Date.now() + timeoutMs }, (e, r) => (e ? reject(e) : resolve(r)));
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
        if (i === 1 || i % 10 === 0) log.warn(`${what}: coordinator unreachable, retrying`, { address: this.address, err: e.details || e.message });
        await new Promise((r) => setTimeout(r, d));
      }
    }
  }

  register(req: RegisterRequest): Promise<RegisterResponse> {
    return this.retrying('register', () => this.unary('register', req));
  }

  reportStarted(req: AttemptStarted): Promise<ReportAck> {
    return this.retrying('report start', () => this.unary('reportStarted', req), 60_000);
  }

  reportResult(req: AttemptResult): Promise<ReportAck> {
    return this.retrying('report result', () => this.unary('reportResult', req));
  }

  /** One upload call carrying chunks in order; resolves with the offset the coordinator holds. */
  upload(chunks: OutputChunk[]): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const call = this.client.uploadOutput(tokenMetadata(this.token), { deadline: Date.now() + 30_000 }, (e: ServiceError | null, r?: UploadOutputResponse) =>
        (e ? reject(e) : resolve(r!.nextOffset)));
      for (const c of chunks) call.write(c);
      call.end();
    });
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }
}
