// The CLI's connection to the coordinator: where it is (--coordinator,
// ORCH_COORDINATOR, or the file a local `orch serve` writes), the cluster token,
// and promise-returning calls whose failures become one clear line.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { existsSync, readFileSync } from 'node:fs';
import { CoordinatorClient } from '../proto/gen/orch/v1/coordinator.js';
import { tokenMetadata } from '../runtime/grpc-auth.js';
import { OrchPaths, orchHome } from '../runtime/paths.js';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

export interface GlobalArgs {
  coordinator?: string;
  token?: string;
  json?: boolean;
}

export function coordinatorAddress(args: GlobalArgs): string {
  if (args.coordinator) return args.coordinator;
  if (process.env.ORCH_COORDINATOR) return process.env.ORCH_COORDINATOR;
  const file = new OrchPaths(orchHome()).coordinatorFile;
  if (existsSync(file)) {
    try {
      const { address } = JSON.parse(readFileSync(file, 'utf8')) as { address: string };
      if (address) return address;
    } catch {
      // a half-written file: treat as not running
    }
  }
  throw new CliError(`no coordinator found: start one with \`orch serve\` (ORCH_HOME=${orchHome()}), or pass --coordinator HOST:PORT / set ORCH_COORDINATOR`);
}

type Unary<Req, Res> = (req: Req, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown;

export class Api {
  readonly client: CoordinatorClient;
  readonly metadata: Metadata;

  constructor(readonly address: string, token?: string) {
    this.client = new CoordinatorClient(address, credentials.createInsecure());
    this.metadata = tokenMetadata(token ?? process.env.ORCH_TOKEN);
  }

  /** Call a unary method: `api.call('getTask', { id })`. */
  call<K extends keyof CoordinatorClient, Req, Res>(method: K, req: Req, timeoutMs = 60_000): Promise<Res> {
    const fn = this.client[method] as unknown as Unary<Req, Res>;
    return new Promise<Res>((resolve, reject) => {
      fn.call(this.client, req, this.metadata, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(this.explain(err)) : resolve(res)));
    });
  }

  explain(err: ServiceError): CliError {
    if (err.code === status.UNAVAILABLE) {
      return new CliError(`cannot reach the coordinator at ${this.address}: is \`orch serve\` running? (${err.details})`);
    }
    if (err.code === status.DEADLINE_EXCEEDED) return new CliError(`the coordinator at ${this.address} did not answer in time`);
    return new CliError(err.details || err.message);
  }

  close(): void {
    this.client.close();
  }
}

export function connect(args: GlobalArgs): Api {
  return new Api(coordinatorAddress(args), args.token);
}

/** Run a command body against the coordinator and always close the channel. */
export async function withApi<T>(args: GlobalArgs, fn: (api: Api) => Promise<T>): Promise<T> {
  const api = connect(args);
  try {
    return await fn(api);
  } finally {
    api.close();
  }
}
