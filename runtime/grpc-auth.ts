// The cluster token on gRPC: clients send `authorization: Bearer <token>`; servers
// compare in constant time. No token configured means loopback-only trust.
import { Metadata } from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The cluster token, from (in order) a flag, ORCH_TOKEN, the file ORCH_TOKEN_FILE names
 * (mode 0600 recommended), or config. A flag shows in `ps`: prefer the others.
 */
export function resolveToken(flag: string | undefined, configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return flag;
  if (env.ORCH_TOKEN) return env.ORCH_TOKEN;
  if (env.ORCH_TOKEN_FILE) {
    try {
      return readFileSync(env.ORCH_TOKEN_FILE, 'utf8').trim() || undefined;
    } catch (err) {
      throw new Error(`cannot read the cluster token from ORCH_TOKEN_FILE=${env.ORCH_TOKEN_FILE}: ${(err as Error).message}`);
    }
  }
  return configured;
}

/** Loopback addresses need no token; anything else a fleet can reach does. */
export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function tokenMetadata(token: string | undefined): Metadata {
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}

export function tokenMatches(expected: string | undefined, md: Metadata): boolean {
  if (!expected) return true;
  const got = md.get('authorization')[0];
  if (typeof got !== 'string' || !got.startsWith('Bearer ')) return false;
  const a = Buffer.from(got.slice(7));
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
