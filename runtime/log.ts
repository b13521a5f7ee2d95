// The one logger: records (level, time, component, msg, trace_id/span_id inside a span, fields)
// to stderr or a file, as JSON lines or, for a person at a terminal, readable text
// (log-format.ts; chosen at the sink).
// Secrets are redacted before anything is written.
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatText, type LogFormat } from './log-format.js';
import { redact, redactDeep } from './redact.js';
import { activeTraceIds } from './telemetry/ids.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

interface Sink { write(line: string): void }

let sink: Sink = { write: (l) => process.stderr.write(l) };
let render: (rec: Record<string, unknown>) => string = (rec) => JSON.stringify(rec);
let minLevel: Level = (process.env.ORCH_LOG_LEVEL as Level) in order ? (process.env.ORCH_LOG_LEVEL as Level) : 'info';

/** Send logs to a file (the service log) instead of stderr. */
export function logToFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  sink = { write: (l) => appendFileSync(path, l) };
  setLogFormat('json');
}

/** JSON lines (the default) or text lines, coloured when `colour` (a terminal without NO_COLOR). */
export function setLogFormat(format: LogFormat, colour = false): void {
  render = format === 'text' ? (rec) => formatText(rec, colour) : (rec) => JSON.stringify(rec);
}

export function setLogLevel(level: Level): void { minLevel = level; }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function logger(component: string): Logger {
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < order[minLevel]) return;
    const rec: Record<string, unknown> = { level, time: new Date().toISOString(), component, msg, ...activeTraceIds() };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) rec[k] = v instanceof Error ? v.message : v;
    }
    sink.write(redact(render(redactDeep(rec))) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => logger(`${component}.${c}`),
  };
}

/**
 * A promise nobody awaited that failed is a bug, but not one worth losing a coordinator
 * or node (and every task it watches) over: log it with its stack and keep running.
 */
export function surviveUnhandledRejections(): void {
  const log = logger('process');
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled promise rejection (a bug; the process keeps running)', { err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) });
  });
}
