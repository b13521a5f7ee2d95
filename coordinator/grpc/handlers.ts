// Turning async functions into grpc-js handlers: authentication first, then the
// call, then domain errors mapped to status codes with the message a user can act on.
import { status, type Metadata, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { logger } from '../../runtime/log.js';
import { authorize, type Access } from './access.js';

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
  PermissionDeniedError: status.PERMISSION_DENIED,
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

/** Why a call may not go ahead (UNAUTHENTICATED, PERMISSION_DENIED), or undefined. */
export function denied(access: Access | string | undefined, call: { metadata: Metadata; getPath(): string }): Promise<Partial<ServiceError> | undefined> {
  return authorize(access, call);
}

export function unary<Req, Res>(access: Access | string | undefined, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    denied(access, call)
      .then((no) => (no ? callback(no, null) : fn(call.request, call).then((res) => callback(null, res))))
      .catch((err) => callback(toServiceError(err), null));
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
