// Secret redaction for everything that leaves a process: logs, output chunks,
// summaries. Known token shapes plus any value registered as secret at runtime.

const patterns: RegExp[] = [
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /\bsk-ant-[A-Za-z0-9_-]{10,}\b/g, // Anthropic
  /\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}\b/g, // OpenAI-style
  /\bxox[abpr]-[A-Za-z0-9-]{10,}\b/g, // Slack
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key id
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
];

const known = new Set<string>();

/** Register a secret value (config env, tokens) so it is masked wherever it appears. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) known.add(value);
}

/** Bytes of the longest registered secret (at least 512, for the token shapes above): how far a cut keeps back. */
export function longestSecret(): number {
  let n = 512;
  for (const v of known) n = Math.max(n, Buffer.byteLength(v));
  return n;
}

/** Every string inside a value redacted, before it is encoded (JSON escaping would hide a secret from redact). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v);
    return out as T;
  }
  return value;
}

export function redact(text: string): string {
  let out = text;
  for (const v of known) if (out.includes(v)) out = out.split(v).join('[REDACTED]');
  for (const p of patterns) out = out.replace(p, '[REDACTED]');
  return out;
}
