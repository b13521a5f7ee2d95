// Telemetry of the GitHub API as orch uses it: every HTTP request (retries included, as
// GitHub counts them) by method and status, the rate limit left as GitHub last reported it
// per resource, and a CLIENT span per API call made inside a task's span.
import { context, metrics, SpanKind, trace, type MeterProvider } from '@opentelemetry/api';
import { endWithError, tracer } from '../../runtime/telemetry/index.js';
import { observeGauge, orchMetrics } from '../../runtime/telemetry/metrics.js';
import type { GitHubRest } from './client.js';

/** x-ratelimit-remaining by x-ratelimit-resource (core, graphql, search, …). */
const left = new Map<string, number>();
let observedBy: MeterProvider | undefined;

function observeRateLimit(): void {
  if (observedBy === metrics.getMeterProvider()) return;
  observedBy = metrics.getMeterProvider();
  observeGauge('orch.github.rate_limit.remaining', { unit: '{request}', description: 'GitHub API requests left before the rate limit resets' },
    (observe) => { for (const [resource, n] of left) observe(n, { 'orch.github.resource': resource }); });
}

/** The fetch Octokit uses: each HTTP request counted, the rate limit read from its answer. */
export function countingFetch(inner: typeof fetch = fetch): typeof fetch {
  observeRateLimit();
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const attrs = { 'http.request.method': (init?.method ?? 'GET').toUpperCase(), 'orch.github.api': /\/graphql$/.test(new URL(url).pathname) ? 'graphql' : 'rest' };
    let res: Response;
    try {
      res = await inner(input, init);
    } catch (err) {
      orchMetrics().githubRequests.add(1, { ...attrs, 'error.type': (err as Error).name || 'Error' });
      throw err;
    }
    orchMetrics().githubRequests.add(1, { ...attrs, 'http.response.status_code': res.status });
    const remaining = res.headers.get('x-ratelimit-remaining');
    if (remaining !== null && Number.isFinite(Number(remaining))) left.set(res.headers.get('x-ratelimit-resource') ?? 'core', Number(remaining));
    return res;
  };
}

/** A CLIENT span per API call (as Octokit names its route), only inside a span of orch's own. */
export function traceRequests(rest: GitHubRest): void {
  rest.hook.wrap('request', async (request, options) => {
    if (!trace.getSpan(context.active())) return request(options);
    const route = String(options.url);
    return tracer().startActiveSpan(`GitHub ${options.method} ${route}`, {
      kind: SpanKind.CLIENT, attributes: { 'http.request.method': options.method, 'url.template': route, 'orch.github.api': route === '/graphql' ? 'graphql' : 'rest' },
    }, async (span) => {
      try {
        const res = await request(options);
        span.setAttribute('http.response.status_code', res.status);
        span.end();
        return res;
      } catch (err) {
        const status = (err as { status?: unknown }).status;
        if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
        // A 304 (conditional GET, nothing new) is an answer, not an error.
        if (status === 304) span.end(); else endWithError(span, err);
        throw err;
      }
    });
  });
}
