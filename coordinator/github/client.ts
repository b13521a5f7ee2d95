// The GitHub client: @octokit/rest (REST and GraphQL through one Octokit) with the
// throttling and retry plugins. Secondary rate limits and primary limits wait out
// `retry-after` / the reset time; 5xx responses retry with backoff; writes are paced.
import { createAppAuth } from '@octokit/auth-app';
import { GraphqlResponseError } from '@octokit/graphql';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import Bottleneck from 'bottleneck';
import { logger } from '../../runtime/log.js';
import { countingFetch, traceRequests } from './instrument.js';
import type { GitHubAuth } from './auth.js';

const log = logger('github');

const OrchOctokit = Octokit.plugin(throttling, retry);
export type GitHubRest = InstanceType<typeof OrchOctokit>;

export interface ClientOptions {
  apiUrl: string;
  /** Pause between writes (GitHub asks for about 1 s); GraphQL counts as a write. */
  writeIntervalMs?: number;
  /** A request with no answer this long is aborted (then retried as a network error). Default 30 s. */
  requestTimeoutMs?: number;
  /** Retries of a request that hit a rate limit before it fails (default 5). */
  rateLimitRetries?: number;
  /** Scale of every wait (tests shrink retry-after seconds); default 1000 ms per second. */
  msPerRetrySecond?: number;
  /** Longest wait for a primary rate-limit reset before giving up on the request (default 15 min). */
  maxResetWaitSeconds?: number;
}

export interface GitHubClient {
  rest: GitHubRest;
  graphql: GitHubRest['graphql'];
  auth: GitHubAuth;
  apiUrl: string;
}

/** fetch, aborted when no answer came within `ms`: a GitHub that accepts and never answers must not stall sync. */
export function timeoutFetch(ms: number, inner: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    const timeout = AbortSignal.timeout(ms);
    const any = (AbortSignal as unknown as { any?: (s: AbortSignal[]) => AbortSignal }).any;
    const signal = init?.signal && any ? any([init.signal, timeout]) : init?.signal ?? timeout;
    return inner(input, { ...init, signal });
  };
}

export function createClient(auth: GitHubAuth, o: ClientOptions): GitHubClient {
  const retries = o.rateLimitRetries ?? 5;
  const writeGroup = new Bottleneck.Group({ maxConcurrent: 1, minTime: o.writeIntervalMs ?? 1000 });
  // Writes that notify people (comments, issues, PRs): GitHub asks for more room still.
  const notifyGroup = new Bottleneck.Group({ maxConcurrent: 1, minTime: 3 * (o.writeIntervalMs ?? 1000) });
  const rest = new OrchOctokit({
    baseUrl: o.apiUrl.replace(/\/+$/, ''),
    userAgent: 'orch',
    request: { fetch: countingFetch(timeoutFetch(o.requestTimeoutMs ?? 30_000)) },
    ...(auth.source === 'github_app'
      ? { authStrategy: createAppAuth, auth: { appId: auth.appId, privateKey: auth.privateKey, ...(auth.installationId ? { installationId: auth.installationId } : {}) } }
      : { auth: auth.token }),
    // Octokit logs every non-2xx as an error, 304s and expected 404s included: keep those at debug.
    log: { debug: () => undefined, info: () => undefined, warn: (m: string) => log.warn(m), error: (m: string) => log.debug(m) },
    throttle: {
      write: writeGroup,
      notifications: notifyGroup,
      retryAfterBaseValue: o.msPerRetrySecond ?? 1000,
      onRateLimit: (after: number, req: { method: string; url: string }, _o: unknown, count: number) => {
        const ok = count < retries && after <= (o.maxResetWaitSeconds ?? 900);
        log.warn(ok ? 'GitHub rate limit reached; waiting for the reset' : 'GitHub rate limit reached; giving up on this request', { request: `${req.method} ${req.url}`, retryAfterSeconds: after, retry: count + 1 });
        return ok;
      },
      onSecondaryRateLimit: (after: number, req: { method: string; url: string }, _o: unknown, count: number) => {
        log.warn('GitHub secondary rate limit; waiting as told', { request: `${req.method} ${req.url}`, retryAfterSeconds: after, retry: count + 1 });
        return count < retries;
      },
    },
    retry: { retryAfterBaseValue: Math.max(10, (o.msPerRetrySecond ?? 1000)), retries: 4 },
  });
  traceRequests(rest);
  return { rest, graphql: rest.graphql, auth, apiUrl: o.apiUrl };
}

/**
 * A GitHub App configured without gh.installation_id: find the installation on `repo`
 * (GET /repos/{owner}/{repo}/installation, as the app) and return credentials that use it.
 */
export async function withInstallation(auth: GitHubAuth, repo: string, o: ClientOptions): Promise<GitHubAuth> {
  if (auth.source !== 'github_app' || auth.installationId) return auth;
  const [owner, name] = repo.split('/');
  const { data } = await createClient(auth, o).rest.apps.getRepoInstallation({ owner, repo: name });
  return { ...auth, installationId: data.id };
}

/** An HTTP status from an Octokit error (0 when there was no response). */
export function statusOf(err: unknown): number {
  return typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 0;
}

export function isNotModified(err: unknown): boolean { return statusOf(err) === 304; }

export function describeError(err: unknown): string {
  if (err instanceof GraphqlResponseError) return `GraphQL: ${err.errors?.map((e) => e.message).join('; ')}`;
  const s = statusOf(err);
  const msg = (err as Error)?.message ?? String(err);
  return s ? `HTTP ${s}: ${msg}` : msg;
}
