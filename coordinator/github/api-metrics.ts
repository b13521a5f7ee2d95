// Metrics of the GitHub API as orch uses it: every request (REST and GraphQL) by method
// and status, and the rate limit left as GitHub last reported it, per resource.
import { metrics, type MeterProvider } from '@opentelemetry/api';
import { observeGauge, orchMetrics } from '../../runtime/telemetry/metrics.js';
import type { GitHubRest } from './client.js';

/** x-ratelimit-remaining by x-ratelimit-resource (core, graphql, search, …), newest first. */
const left = new Map<string, number>();
let observedBy: MeterProvider | undefined;

function seen(method: string, url: string, status: number, headers: Record<string, unknown> | undefined): void {
  orchMetrics().githubRequests.add(1, {
    'http.request.method': method, 'http.response.status_code': status, 'orch.github.api': /\/graphql$/.test(url) ? 'graphql' : 'rest',
  });
  const remaining = Number(headers?.['x-ratelimit-remaining']);
  if (headers?.['x-ratelimit-remaining'] !== undefined && Number.isFinite(remaining)) left.set(String(headers['x-ratelimit-resource'] ?? 'core'), remaining);
}

/** Count the requests of one client; the rate-limit gauge is registered once per meter provider. */
export function instrument(rest: GitHubRest): void {
  if (observedBy !== metrics.getMeterProvider()) {
    observedBy = metrics.getMeterProvider();
    observeGauge('orch.github.rate_limit.remaining', { unit: '{request}', description: 'GitHub API requests left before the rate limit resets' },
      (observe) => { for (const [resource, n] of left) observe(n, { 'orch.github.resource': resource }); });
  }
  rest.hook.after('request', (res, options) => seen(options.method, String(options.url), res.status, res.headers as Record<string, unknown>));
  rest.hook.error('request', (err, options) => {
    const e = err as { status?: number; response?: { headers?: Record<string, unknown> } };
    seen(options.method, String(options.url), typeof e.status === 'number' ? e.status : 0, e.response?.headers);
    throw err;
  });
}
