// Turning async functions into grpc-js handlers: authentication first, then the
// call, then domain errors mapped to status codes with the message a user can act on.
import { status, type Metadata, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { tokenMatches } from '../../runtime/grpc-auth.js';
import { logger } from '../../runtime/log.js';

const log = logger('grpc');

const codes: Record<string, status> = {
  RefusedError: status.FAILED_PRECONDITION,
  FencedError: status.FAILED_PRECONDITION,
  ProjectInUseError: status.FAILED_PRECONDITION,
  DatabaseUnavailableError: status.UNAVAILABLE,
  NotFoundError: status.NOT_FOUND,
  RoutingError: status.INVALID_ARGUMENT,
  ProjectError: status.INVALID_ARGUMENT,
  ConfigError: status.INVALID_ARGUMENT,
  InvalidArgument: status.INVALID_ARGUMENT,
  StaleTransitionError: status.ABORTED,
  OutputGapError: status.OUT_OF_RANGE,
  AskTimeoutError: status.DEADLINE_EXCEEDED,
  NotLeaderError: status.UNAVAILABLE,
  TryAgainError: status.UNAVAILABLE,
  ShuttingDownError: status.UNAVAILABLE,
};

/** Not a refusal: the coordinator could not decide now (its database is away); the caller retries. */
export class TryAgainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TryAgainError';
  }
}

export class InvalidArgument extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidArgument';
  }
}

export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = codes[e.name] ?? codes[e.constructor?.name] ?? status.INTERNAL;
  if (code === status.INTERNAL) log.error('internal error in a call', { err: e, stack: e.stack });
  return { code, details: e.message, message: e.message };
}

export const unauthenticated: Partial<ServiceError> = {
  code: status.UNAUTHENTICATED,
  details: 'missing or wrong cluster token: pass --token, set ORCH_TOKEN, or cluster.token in config.yml',
};

export function authed(token: string | undefined, md: Metadata): boolean {
  return tokenMatches(token, md);
}

export function unary<Req, Res>(token: string | undefined, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    if (!authed(token, call.metadata)) return callback(unauthenticated, null);
    fn(call.request, call).then((res) => callback(null, res), (err) => callback(toServiceError(err), null));
  };
}

/**
 * End a server-streaming or bidi call with an error status. grpc-js sends the status when the
 * stream emits 'error' (a destroy() drops it: the client would wait for nothing).
 */
export function failStream(call: { emit(event: 'error', err: Error): boolean }, err: unknown): void {
  const e = err instanceof Error && 'code' in err ? err : Object.assign(new Error(err instanceof Error ? err.message : String(err)), toServiceError(err));
  call.emit('error', e as Error);
}
