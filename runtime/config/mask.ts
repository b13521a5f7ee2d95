// What `orch config` may show: secret values masked. A value is secret when its key says
// so (token, password, secret, key, credentials), when it sits under an `env` map (agent
// environments carry API keys), or when it is a URL with a password in it.

const SECRET_KEY = /(^|_)(token|password|passwd|secret|key|apikey|credentials?|creds|private_key_path)$/i;
const MASK = '********';

function maskUrl(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@\s]*@/i, `$1:${MASK}@`);
}

/** A copy of `value` (found at dotted `path`) with every secret masked. */
export function maskSecrets(value: unknown, path: string[] = []): unknown {
  const last = path.at(-1) ?? '';
  const underEnv = path.includes('env');
  if (typeof value === 'string') {
    if (value && (underEnv || SECRET_KEY.test(last))) return MASK;
    return maskUrl(value);
  }
  if (Array.isArray(value)) return value.map((v, i) => maskSecrets(v, [...path, String(i)]));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskSecrets(v, [...path, k]);
    return out;
  }
  return value;
}
