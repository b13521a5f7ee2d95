// The CLI's connection to the coordinator: where it is (--coordinator,
// ORCH_COORDINATOR, or the file a local `orch serve` writes), the cluster token,
// and promise-returning calls whose failures become one clear line.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { existsSync, readFileSync } from 'node:fs';
import { CoordinatorClient } from '../proto/gen/orch/v1/coordinator.js';
import { resolveToken, tokenMetadata } from '../runtime/grpc-auth.js';
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

/**
 * A client of the coordinator. `address` may list several (`a:7400,b:7400`: a leader and
 * its standbys); a call goes to the first that answers, since only the leader listens.
 */
export class Api {
  private clients: CoordinatorClient[];
  private current = 0;
  readonly metadata: Metadata;
  readonly addresses: string[];

  constructor(readonly address: string, token?: string) {
    this.addresses = address.split(',').map((a) => a.trim()).filter(Boolean);
    if (!this.addresses.length) throw new CliError('empty coordinator address');
    this.clients = this.addresses.map((a) => new CoordinatorClient(a, credentials.createInsecure()));
    this.metadata = tokenMetadata(resolveToken(token, undefined));
  }

  /** The client of the coordinator that answered last (for streaming calls). */
  get client(): CoordinatorClient { return this.clients[this.current]; }

  /** Call a unary method: `api.call('getTask', { id })`. Tries each address once while they are unreachable. */
  async call<K extends keyof CoordinatorClient, Req, Res>(method: K, req: Req, timeoutMs = 60_000): Promise<Res> {
    for (let tried = 1; ; tried++) {
      const client = this.client;
      const fn = client[method] as unknown as Unary<Req, Res>;
      try {
        return await new Promise<Res>((resolve, reject) => {
          fn.call(client, req, this.metadata, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
        });
      } catch (err) {
        const e = err as ServiceError;
        if (e.code !== status.UNAVAILABLE || tried >= this.clients.length) throw this.explain(e);
        this.current = (this.current + 1) % this.clients.length;
      }
    }
  }

  explain(err: ServiceError): CliError {
    if (err.code === status.UNAVAILABLE) {
      return new CliError(`cannot reach the coordinator at ${this.address}: is \`orch serve\` running? (${err.details})`);
    }
    if (err.code === status.DEADLINE_EXCEEDED) return new CliError(`the coordinator at ${this.address} did not answer in time`);
    return new CliError(err.details || err.message);
  }

  close(): void {
    for (const c of this.clients) c.close();
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
