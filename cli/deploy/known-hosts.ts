// Host-key trust for `orch node deploy`, as OpenSSH keeps it: a known_hosts file with
// plain or hashed (`|1|salt|hmac`) host patterns, `[host]:port` for other ports,
// wildcards and negations. Pure: the caller reads and appends the file.
import { createHash, createHmac, randomBytes } from 'node:crypto';

export interface HostKey {
  /** e.g. ssh-ed25519, as written in known_hosts. */
  type: string;
  /** The key blob (SSH wire format). */
  blob: Buffer;
}

export type HostKeyVerdict =
  | { kind: 'known'; line: number }
  /** The host has no key in the file (or only keys of other types this server did not offer: see `otherTypes`). */
  | { kind: 'unknown'; otherTypes: string[] }
  /** The host is known with another key of this type, or the key is revoked: always refused. */
  | { kind: 'changed'; line: number; revoked?: boolean };

/** The name a host has in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type a blob declares (its first SSH string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error('host key blob too short');
  const n = blob.readUInt32BE(0);
  if (4 + n > blob.length) throw new Error('host key blob malformed');
  return blob.subarray(4, 4 + n).toString('ascii');
}

/** OpenSSH's fingerprint: `SHA256:` and unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

function hashedMatch(entry: string, name: string): boolean {
  const [, magic, salt, hash] = entry.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

/** Whether a comma-separated host pattern list matches name (a negated match wins). */
export function hostPatternsMatch(patterns: string, name: string): boolean {
  let hit = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('|')) {
      if (hashedMatch(p, name)) hit = true;
    } else if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

interface Entry { line: number; marker?: string; type: string; blob: Buffer }

/** The entries of a known_hosts text that apply to name. */
export function entriesFor(text: string, name: string): Entry[] {
  const out: Entry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const f = line.split(/\s+/);
    const marker = f[0].startsWith('@') ? f.shift() : undefined;
    if (f.length < 3 || !hostPatternsMatch(f[0], name)) return;
    out.push({ line: i + 1, marker, type: f[1], blob: Buffer.from(f[2], 'base64') });
  });
  return out;
}

/** What known_hosts says about the key a server showed for name. */
export function verifyHostKey(text: string, name: string, key: HostKey): HostKeyVerdict {
  const entries = entriesFor(text, name).filter((e) => e.marker !== '@cert-authority');
  const revoked = entries.find((e) => e.marker === '@revoked' && e.blob.equals(key.blob));
  if (revoked) return { kind: 'changed', line: revoked.line, revoked: true };
  const plain = entries.filter((e) => !e.marker);
  const same = plain.find((e) => e.type === key.type && e.blob.equals(key.blob));
  if (same) return { kind: 'known', line: same.line };
  const other = plain.find((e) => e.type === key.type);
  if (other) return { kind: 'changed', line: other.line };
  return { kind: 'unknown', otherTypes: [...new Set(plain.map((e) => e.type))] };
}

/** The key types known_hosts holds for name, to be offered first when negotiating (as ssh does). */
export function knownTypes(text: string, name: string): string[] {
  return [...new Set(entriesFor(text, name).filter((e) => !e.marker).map((e) => e.type))];
}

/** A known_hosts line for a newly trusted key, its host name hashed as `ssh -o HashKnownHosts=yes` writes it. */
export function knownHostsLine(name: string, key: HostKey, salt: Buffer = randomBytes(20)): string {
  const hash = createHmac('sha1', salt).update(name).digest('base64');
  return `|1|${salt.toString('base64')}|${hash} ${key.type} ${key.blob.toString('base64')}\n`;
}
