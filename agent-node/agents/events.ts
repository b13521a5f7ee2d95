// Shared reading of an agent's JSON-lines output: one event per line, partial or
// non-JSON lines (a run killed mid-write, banners) skipped.
import type { AgentRun } from './types.js';

export function jsonEvents(stdout: string): any[] {
  const out: any[] = [];
  for (const line of stdout.split('\n')) {
    const ev = jsonEvent(line);
    if (ev !== undefined) out.push(ev);
  }
  return out;
}

export function jsonEvent(line: string): any {
  const l = line.trim();
  if (!l.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(l);
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function emptyRun(): AgentRun {
  return { text: '', isError: false, inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0 };
}

/** Seconds from a retry-after header value (seconds or an HTTP date), if any. */
export function retryAfterSeconds(v: unknown, now = Date.now()): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.max(0, v);
  if (typeof v !== 'string' || !v.trim()) return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, n);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, Math.ceil((t - now) / 1000)) : undefined;
}

export function clip(s: string, n = 200): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}
