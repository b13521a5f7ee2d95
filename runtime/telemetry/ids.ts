// The trace and span ids of the active span, for log records. Only the API is used
// (no SDK): with telemetry off there is never an active span, and this returns undefined.
import { context, trace } from '@opentelemetry/api';

export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const sc = trace.getSpan(context.active())?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : undefined;
}
