// Telemetry is off unless an OTLP endpoint is set: then no provider and no exporter exist
// (the API's no-ops answer, spans record nothing, nothing is sent), and log records carry
// no ids. On, spans and metrics reach the receiver and log records inside a span carry its ids.
// One file, in order: global providers, once registered, stay for the process.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metrics, ProxyTracerProvider, trace } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logger, logToFile } from '../../runtime/log.js';
import { initTelemetry, inTaskSpan, startIntake, telemetry, tracer } from '../../runtime/telemetry/index.js';
import { orchMetrics } from '../../runtime/telemetry/metrics.js';
import { startFakeOtlp, type FakeOtlp } from '../fixtures/fake-otlp.js';
import { waitFor } from '../harness/wait.js';

describe('telemetry', () => {
  let otlp: FakeOtlp;
  let dir: string;
  let logFile: string;
  const records = () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50'; // read by the SDK itself
    otlp = await startFakeOtlp();
    dir = mkdtempSync(join(tmpdir(), 'orch-telemetry-'));
    logFile = join(dir, 'orch.log');
    logToFile(logFile);
  });
  afterAll(async () => {
    await telemetry().shutdown();
    await otlp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('off without an endpoint, and with OTEL_SDK_DISABLED=true even with one: no provider, no exporter, no span work, no ids in logs', async () => {
    for (const env of [{}, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SDK_DISABLED: 'true' }]) {
      const t = await initTelemetry('orch-test', {}, env);
      expect(t.enabled).toBe(false);
    }
    // The API's globals are still its no-ops: nothing was registered.
    expect((trace.getTracerProvider() as ProxyTracerProvider).getDelegate()).not.toBeInstanceOf(NodeTracerProvider);
    expect(metrics.getMeterProvider()).not.toBeInstanceOf(MeterProvider);
    // A span is a non-recording stand-in with no ids; an intake carries no context to store.
    const span = tracer().startSpan('orch.task.intake');
    expect(span.isRecording()).toBe(false);
    expect(trace.isSpanContextValid(span.spanContext())).toBe(false);
    span.end();
    expect(startIntake('cli').trace).toEqual({});
    orchMetrics().attempts.add(1, { 'orch.outcome': 'success' });
    await inTaskSpan('orch.github.update', {}, {}, async () => logger('test').info('inside a span, telemetry off'));
    expect(records().find((r) => r.msg === 'inside a span, telemetry off')).not.toHaveProperty('trace_id');
    // Nothing ever reached the receiver, though it was named.
    await new Promise((r) => setTimeout(r, 300));
    expect(otlp.spans).toEqual([]);
    expect(otlp.points).toEqual([]);
  });

  it('on with an endpoint in config: spans and metrics reach it, and log records inside a span carry its trace and span ids', async () => {
    const t = await initTelemetry('orch-test', { endpoint: otlp.url, protocol: 'http/json' }, { OTEL_METRIC_EXPORT_INTERVAL: '200' });
    expect(t.enabled).toBe(true);
    expect((trace.getTracerProvider() as ProxyTracerProvider).getDelegate()).toBeInstanceOf(NodeTracerProvider);
    expect(metrics.getMeterProvider()).toBeInstanceOf(MeterProvider);
    const intake = startIntake('cli', { 'orch.project': 'p' });
    intake.span.end();
    let ids: { traceId: string; spanId: string } | undefined;
    await inTaskSpan('orch.github.update', intake.trace, { 'orch.task': 7 }, async (span) => {
      ids = span.spanContext();
      logger('test').info('inside a span, telemetry on');
    });
    logger('test').info('outside any span');
    orchMetrics().attempts.add(2, { 'orch.outcome': 'success' });
    const inside = records().find((r) => r.msg === 'inside a span, telemetry on')!;
    expect(inside).toMatchObject({ trace_id: ids!.traceId, span_id: ids!.spanId });
    expect(records().find((r) => r.msg === 'outside any span')).not.toHaveProperty('trace_id');
    const update = await waitFor(() => otlp.spans.find((s) => s.name === 'orch.github.update'), { timeoutMs: 5_000, what: 'the span exported' });
    expect(update).toMatchObject({ traceId: ids!.traceId, spanId: ids!.spanId, service: 'orch-test' });
    expect(update.parentSpanId).toBe(otlp.spans.find((s) => s.name === 'orch.task.intake')!.spanId);
    await waitFor(() => otlp.latest('orch.attempts', { 'orch.outcome': 'success' })[0]?.value === 2, { timeoutMs: 5_000, what: 'the counter exported (the add while off not counted)' });
    expect(otlp.rejected).toEqual([]);
  });
});
