// The metrics half of telemetry set-up: one MeterProvider with a periodic OTLP exporter
// (the same three protocols as traces), registered as the global provider. Only
// initTelemetry calls it, and only when telemetry is on.
import { metrics } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';

async function metricExporterFor(protocol: string, url: string | undefined): Promise<PushMetricExporter> {
  const o = url ? { url } : {};
  if (protocol === 'grpc') return new (await import('@opentelemetry/exporter-metrics-otlp-grpc')).OTLPMetricExporter(o);
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter(o);
  return new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter(o);
}

function millis(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return v && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Export metrics every OTEL_METRIC_EXPORT_INTERVAL ms (default 60 s), and once more at shutdown. */
export async function startMetrics(resource: Resource, protocol: string, url: string | undefined, env: NodeJS.ProcessEnv): Promise<{ shutdown(): Promise<void> }> {
  const interval = millis(env.OTEL_METRIC_EXPORT_INTERVAL, 60_000);
  const reader = new PeriodicExportingMetricReader({
    exporter: await metricExporterFor(protocol, url),
    exportIntervalMillis: interval,
    exportTimeoutMillis: Math.min(interval, millis(env.OTEL_METRIC_EXPORT_TIMEOUT, 30_000)),
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  return { shutdown: () => provider.shutdown() };
}
