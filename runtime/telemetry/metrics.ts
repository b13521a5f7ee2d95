// orch's metrics, one place for their names, units and attributes. Instruments come from
// the global MeterProvider: a no-op until initTelemetry registers one (telemetry on), so
// recording costs nothing when telemetry is off and observable callbacks never run.
import { metrics, type Attributes, type Counter, type Histogram, type MeterProvider, type ObservableResult } from '@opentelemetry/api';

/** Seconds, from a dispatch in milliseconds to an agent run of an hour. */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export interface OrchInstruments {
  /** Time a task waited routed (ready) before an attempt was dispatched. */
  queueWait: Histogram;
  /** Assignment published -> the node claimed its start (the agent about to run). */
  dispatchLatency: Histogram;
  /** An attempt's agent run, as the node measured it. */
  runDuration: Histogram;
  /** Attempts that ended, by outcome. */
  attempts: Counter;
  /** Tokens by type (input, output, cache_read, cache_write) and orch.purpose (task: agent runs; route: the LLM router). */
  tokens: Counter;
  /** Cost in USD, by orch.purpose as tokens. */
  cost: Counter;
  /** Requests to the GitHub API, by method and status. */
  githubRequests: Counter;
}

let cached: { provider: MeterProvider; inst: OrchInstruments } | undefined;

function meter() { return metrics.getMeter('orch'); }

/** The instruments of the current global provider (made again if telemetry was set up since). */
export function orchMetrics(): OrchInstruments {
  const provider = metrics.getMeterProvider();
  if (cached?.provider === provider) return cached.inst;
  const m = meter();
  const seconds = (name: string, description: string) => m.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: SECONDS } });
  const inst: OrchInstruments = {
    queueWait: seconds('orch.task.queue_wait', 'Time a task waited, routed, for a node'),
    dispatchLatency: seconds('orch.dispatch.latency', 'Assignment published to attempt claimed by its node'),
    runDuration: seconds('orch.attempt.duration', 'Duration of an agent run'),
    attempts: m.createCounter('orch.attempts', { unit: '{attempt}', description: 'Attempts ended, by outcome' }),
    tokens: m.createCounter('orch.tokens', { unit: '{token}', description: 'Tokens used by agent runs and the LLM router, by gen_ai.token.type and orch.purpose' }),
    cost: m.createCounter('orch.cost', { unit: 'USD', description: 'Cost of agent runs and the LLM router, by orch.purpose' }),
    githubRequests: m.createCounter('orch.github.requests', { unit: '{request}', description: 'Requests to the GitHub API' }),
  };
  cached = { provider, inst };
  return inst;
}

/**
 * An observable gauge (tasks by status, active sessions, GitHub rate limit left): `read`
 * runs only when a reader collects, i.e. never while telemetry is off. Returns the unregister.
 */
export function observeGauge(name: string, o: { unit: string; description: string }, read: (observe: (value: number, attrs?: Attributes) => void) => void | Promise<void>): () => void {
  const gauge = meter().createObservableGauge(name, o);
  const cb = async (r: ObservableResult) => { await read((v, attrs) => r.observe(v, attrs)); };
  gauge.addCallback(cb);
  return () => gauge.removeCallback(cb);
}
