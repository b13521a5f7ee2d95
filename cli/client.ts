// The CLI's connection to the coordinator: where it is (--coordinator,
// ORCH_COORDINATOR, or the file a local `orch serve` writes), the cluster token,
// and promise-returning calls whose failures become one clear line.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinatorClient } from '../proto/gen/orch/v1/coordinator.js';
import { resolveToken, tokenMetadata } from '../runtime/grpc-auth.js';
import { OrchPaths, orchHome } from '../runtime/paths.js';
import { channelCredentials, channelOptions, fetchPinnedCaFromAny, type ClientTls } from '../runtime/tls/channel.js';
import { parseJoinToken } from '../runtime/tls/join-token.js';
import { certFingerprint } from '../runtime/tls/x509.js';

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

/** What a local `orch serve` wrote about itself: its address and, when it serves TLS, its CA's fingerprint. */
function localCoordinator(): { address?: string; caFingerprint?: string } {
  const file = new OrchPaths(orchHome()).coordinatorFile;
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { address?: string; caFingerprint?: string };
  } catch {
    return {}; // a half-written file: treat as not running
  }
}

export function coordinatorAddress(args: GlobalArgs): string {
  if (args.coordinator) return args.coordinator;
  if (process.env.ORCH_COORDINATOR) return process.env.ORCH_COORDINATOR;
  const { address } = localCoordinator();
  if (address) return address;
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

  /** `token`: the cluster token or a join token; `tls`: the pinned cluster CA (see connect()). */
  constructor(readonly address: string, token?: string, tls?: ClientTls) {
    this.addresses = address.split(',').map((a) => a.trim()).filter(Boolean);
    if (!this.addresses.length) throw new CliError('empty coordinator address');
    this.clients = this.addresses.map((a) => new CoordinatorClient(a, tls ? channelCredentials(tls) : credentials.createInsecure(), channelOptions(tls)));
    const t = resolveToken(token, undefined);
    this.metadata = tokenMetadata(t ? (parseJoinToken(t)?.secret ?? t) : t);
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
      return new CliError(`cannot reach the coordinator at ${this.address}: is \`orch serve\` running? A fleet coordinator speaks TLS only: `
        + `give the join token from \`orch cluster token\` in ORCH_TOKEN or ORCH_TOKEN_FILE. (${err.details})`);
    }
    if (err.code === status.DEADLINE_EXCEEDED) return new CliError(`the coordinator at ${this.address} did not answer in time`);
    return new CliError(err.details || err.message);
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

/**
 * How to trust the coordinator: with a join token, the CA it pins (fetched from the
 * coordinator and checked against the fingerprint); talking to the local `orch serve`
 * of this ORCH_HOME, its CA on disk; otherwise plaintext (the embedded default).
 */
export async function clientTls(address: string, token: string | undefined): Promise<ClientTls | undefined> {
  const own = cliCertificate();
  if (own) return own;
  let pin: string | undefined;
  try {
    pin = token ? parseJoinToken(token)?.caFingerprint : undefined;
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const addresses = address.split(',').map((a) => a.trim()).filter(Boolean);
  if (pin) {
    try {
      return { ca: await fetchPinnedCaFromAny(addresses, pin) };
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }
  const local = localCoordinator();
  if (local.caFingerprint && local.address && addresses.includes(local.address)) {
    const caFile = join(orchHome(), 'tls', 'ca.crt');
    const ca = existsSync(caFile) ? readFileSync(caFile, 'utf8') : '';
    if (ca && certFingerprint(ca) === local.caFingerprint) return { ca };
  }
  return undefined;
}

/**
 * The CLI's own certificate (`orch cluster cli-cert`): ORCH_CLI_CERT names its file (the
 * certificate followed by the cluster CA it trusts), ORCH_CLI_KEY its key (mode 0600).
 */
function cliCertificate(env: NodeJS.ProcessEnv = process.env): ClientTls | undefined {
  if (!env.ORCH_CLI_CERT) return undefined;
  if (!env.ORCH_CLI_KEY) throw new CliError('ORCH_CLI_CERT is set but ORCH_CLI_KEY is not: name the key file `orch cluster cli-cert` wrote');
  try {
    const blocks = readFileSync(env.ORCH_CLI_CERT, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    if (blocks.length < 2) throw new Error('expected the certificate followed by the cluster CA');
    return { cert: blocks[0], ca: blocks[blocks.length - 1], key: readFileSync(env.ORCH_CLI_KEY, 'utf8') };
  } catch (err) {
    throw new CliError(`cannot use the CLI certificate ORCH_CLI_CERT=${env.ORCH_CLI_CERT}: ${(err as Error).message}`);
  }
}

export async function connect(args: GlobalArgs): Promise<Api> {
  const address = coordinatorAddress(args);
  const token = resolveToken(args.token, undefined);
  return new Api(address, token, await clientTls(address, token));
}

/** Run a command body against the coordinator and always close the channel. */
export async function withApi<T>(args: GlobalArgs, fn: (api: Api) => Promise<T>): Promise<T> {
  const api = await connect(args);
  try {
    return await fn(api);
  } finally {
    api.close();
  }
}
