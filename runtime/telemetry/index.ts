// OpenTelemetry for both roles. On only when an OTLP endpoint is set (the standard
// OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, or `telemetry.endpoint` in config) and
// OTEL_SDK_DISABLED is not true; otherwise no provider is registered, the API stays a
// no-op and no span work is done. The other standard variables (OTEL_EXPORTER_OTLP_PROTOCOL
// http/protobuf | http/json | grpc, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER, OTEL_BSP_*) are read by the SDK and exporters themselves.
import { context, propagation, ROOT_CONTEXT, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
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
  /** The endpoint and protocol, for agents that export their own spans (Claude Code). */
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

/** Set up tracing for this process (`orch-coordinator` or `orch-node` by default). */
export async function initTelemetry(defaultService: string, cfg: TelemetryConfig = {}, env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  if (current.enabled) return current;
  if (String(env.OTEL_SDK_DISABLED).toLowerCase() === 'true') return current;
  const base = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT || cfg.endpoint;
  if (!base) return current;
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || cfg.protocol || 'http/protobuf';
  // From config only (the exporters read the variables themselves): the signal path is ours to add.
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT
    ? undefined
    : protocol === 'grpc' ? base : `${base.replace(/\/+$/, '')}/v1/traces`;
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the env detector) win over ours.
  const resource = resourceFromAttributes({ 'service.name': cfg.service_name || defaultService }).merge(detectResources({ detectors: [envDetector] }));
  const service = String(resource.attributes['service.name']);
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(await exporterFor(protocol, url))] });
  provider.register();
  log.info('tracing on', { endpoint: base, protocol, service });
  current = {
    enabled: true, endpoint: base, protocol,
    shutdown: async () => { await provider.shutdown().catch((err) => log.warn('telemetry shutdown failed', { err })); },
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

/** Record an error on a span and end it. */
export function endWithError(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: 2, message: err instanceof Error ? err.message : String(err) });
  span.end();
}
