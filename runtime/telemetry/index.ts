// OpenTelemetry for both roles. On only when an OTLP endpoint is set (the standard
// OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT, or `telemetry.endpoint` in config) and
// OTEL_SDK_DISABLED is not true; otherwise no provider is registered, the API stays a
// no-op and no span or metric work is done. The other standard variables (OTEL_EXPORTER_OTLP_PROTOCOL
// http/protobuf | http/json | grpc, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER=none,
// OTEL_METRIC_EXPORT_INTERVAL) are honoured here or by the SDK and exporters themselves.
import { context, propagation, ROOT_CONTEXT, trace, type Attributes, type Context, type Link, type Span, type Tracer } from '@opentelemetry/api';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { startMetrics } from './metrics-provider.js';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { logger } from '../log.js';

const log = logger('telemetry');

export interface TelemetryConfig {
  endpoint?: string;
  protocol?: 'http/protobuf' | 'http/json' | 'grpc';
  service_name?: string;
}

export interface Telemetry {
  readonly enabled: boolean;
  /** The traces endpoint and protocol, for agents that export their own spans (Claude Code); unset when only metrics are on. */
  readonly endpoint?: string;
  readonly protocol?: string;
  shutdown(): Promise<void>;
}

let current: Telemetry = { enabled: false, shutdown: async () => undefined };

export function telemetry(): Telemetry { return current; }

async function exporterFor(protocol: string, url: string | undefined): Promise<SpanExporter> {
  const o = url ? { url } : {};
  if (protocol === 'grpc') return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter(o);
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(o);
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(o);
}

/** The OTLP endpoint and protocol of one signal, or undefined when that signal is off. */
function signal(name: 'TRACES' | 'METRICS', cfg: TelemetryConfig, env: NodeJS.ProcessEnv): { base: string; protocol: string; url?: string } | undefined {
  if ((env[`OTEL_${name}_EXPORTER`] ?? '').split(',').map((x) => x.trim()).includes('none')) return undefined;
  const fromEnv = env[`OTEL_EXPORTER_OTLP_${name}_ENDPOINT`] || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const base = fromEnv || cfg.endpoint;
  if (!base) return undefined;
  const protocol = env[`OTEL_EXPORTER_OTLP_${name}_PROTOCOL`] || env.OTEL_EXPORTER_OTLP_PROTOCOL || cfg.protocol || 'http/protobuf';
  // From config only (the exporters read the variables themselves): the signal path is ours to add.
  const url = fromEnv ? undefined : protocol === 'grpc' ? base : `${base.replace(/\/+$/, '')}/v1/${name.toLowerCase()}`;
  return { base, protocol, url };
}

/** Set up tracing and metrics for this process (`orch-coordinator` or `orch-node` by default). */
export async function initTelemetry(defaultService: string, cfg: TelemetryConfig = {}, env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  if (current.enabled) return current;
  if (String(env.OTEL_SDK_DISABLED).toLowerCase() === 'true') return current;
  const traces = signal('TRACES', cfg, env);
  const metricsOut = signal('METRICS', cfg, env);
  if (!traces && !metricsOut) return current;
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the env detector) win over ours.
  const resource = resourceFromAttributes({ 'service.name': cfg.service_name || defaultService }).merge(detectResources({ detectors: [envDetector] }));
  const service = String(resource.attributes['service.name']);
  let provider: NodeTracerProvider | undefined;
  if (traces) {
    provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(await exporterFor(traces.protocol, traces.url))] });
    provider.register();
  }
  const meters = metricsOut ? await startMetrics(resource, metricsOut.protocol, metricsOut.url, env) : undefined;
  log.info('telemetry on', { traces: traces?.base ?? 'off', metrics: metricsOut?.base ?? 'off', protocol: traces?.protocol ?? metricsOut?.protocol, service });
  current = {
    enabled: true, endpoint: traces?.base, protocol: traces?.protocol,
    shutdown: async () => {
      await Promise.all([provider?.shutdown(), meters?.shutdown()]).catch((err) => log.warn('telemetry shutdown failed', { err }));
    },
  };
  return current;
}

export function tracer(): Tracer {
  return trace.getTracer('orch');
}

/** W3C trace context of `ctx` as a carrier ({traceparent, tracestate}); empty when tracing is off. */
export function carrierOf(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context a carrier names (or the root context). */
export function contextOf(carrier: Record<string, string> | undefined): Context {
  return carrier && Object.keys(carrier).length ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
}

/** The trace id in a carrier's traceparent, or ''. */
export function traceIdOf(carrier: Record<string, string> | undefined): string {
  return /^[0-9a-f]{2}-([0-9a-f]{32})-/.exec(carrier?.traceparent ?? '')?.[1] ?? '';
}

/**
 * A task's trace starts with its intake span (`via`: cli, webhook, poll, job, delegation);
 * `trace` is the carrier stored with the task, parent of every later span of its life.
 * `linkTo` (a parent task's carrier) becomes a span link: a delegated task is a trace of its own.
 */
export function startIntake(via: string, attributes: Attributes = {}, linkTo?: Record<string, string>): { span: Span; trace: Record<string, string> } {
  const parent = linkTo && traceIdOf(linkTo) ? trace.getSpanContext(contextOf(linkTo)) : undefined;
  const links: Link[] = parent ? [{ context: parent }] : [];
  const span = tracer().startSpan('orch.task.intake', { root: true, links, attributes: { 'orch.intake': via, ...attributes } }, ROOT_CONTEXT);
  return { span, trace: carrierOf(trace.setSpan(ROOT_CONTEXT, span)) };
}

/**
 * Run `fn` in a span that is a child of a task's trace (`carrier`; undefined: of the active span), active while `fn` runs
 * (so log lines and GitHub requests inside carry it); the span ends with `fn`.
 */
export async function inTaskSpan<T>(name: string, carrier: Record<string, string> | undefined, attributes: Attributes, fn: (span: Span) => Promise<T>, startTime?: number): Promise<T> {
  return tracer().startActiveSpan(name, { attributes, ...(startTime ? { startTime } : {}) }, carrier ? contextOf(carrier) : context.active(), async (span) => {
    try {
      const out = await fn(span);
      span.end();
      return out;
    } catch (err) {
      endWithError(span, err);
      throw err;
    }
  });
}

/** Record an error on a span and end it. */
export function endWithError(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: 2, message: err instanceof Error ? err.message : String(err) });
  span.end();
}
