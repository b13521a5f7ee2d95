// Each signal follows its own standard variables: OTEL_{TRACES,METRICS}_EXPORTER=none turns
// one off; OTEL_EXPORTER_OTLP_METRICS_ENDPOINT alone turns on metrics and nothing else.
// (A file of its own: global providers, once registered, stay for the process.)
import { metrics, ProxyTracerProvider, trace } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTelemetry, telemetry, tracer } from '../../runtime/telemetry/index.js';
import { orchMetrics } from '../../runtime/telemetry/metrics.js';
import { startFakeOtlp, type FakeOtlp } from '../fixtures/fake-otlp.js';
import { waitFor } from '../harness/wait.js';

describe('telemetry signals', () => {
  let otlp: FakeOtlp;
  beforeAll(async () => { otlp = await startFakeOtlp(); });
  afterAll(async () => {
    await telemetry().shutdown();
    await otlp.close();
  });

  it('both exporters set to none: off, though an endpoint is set', async () => {
    const t = await initTelemetry('orch-test', {}, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' });
    expect(t.enabled).toBe(false);
    expect(metrics.getMeterProvider()).not.toBeInstanceOf(MeterProvider);
  });

  it('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT alone: metrics go there, no tracer provider, no endpoint handed to agents', async () => {
    // The exporter reads its variables from the process environment, as in production.
    process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = `${otlp.url}/v1/metrics`;
    process.env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL = 'http/json';
    process.env.OTEL_METRIC_EXPORT_INTERVAL = '200';
    const t = await initTelemetry('orch-test', {}, process.env);
    expect(t.enabled).toBe(true);
    expect(t.endpoint).toBeUndefined();
    expect((trace.getTracerProvider() as ProxyTracerProvider).getDelegate()).not.toBeInstanceOf(NodeTracerProvider);
    expect(tracer().startSpan('x').isRecording()).toBe(false);
    expect(metrics.getMeterProvider()).toBeInstanceOf(MeterProvider);
    orchMetrics().cost.add(0.25, { 'gen_ai.agent.name': 'claude' });
    const p = await waitFor(() => otlp.latest('orch.cost', { 'gen_ai.agent.name': 'claude' })[0], { timeoutMs: 5_000, what: 'orch.cost exported' });
    expect(p).toMatchObject({ value: 0.25, unit: 'USD', service: 'orch-test', type: 'sum' });
    expect(otlp.spans).toEqual([]);
    expect(otlp.rejected).toEqual([]);
  });
});
