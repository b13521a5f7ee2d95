// The cluster token on gRPC: clients send `authorization: Bearer <token>`; servers
// compare in constant time. No token configured means loopback-only trust.
import { Metadata } from '@grpc/grpc-js';
import { timingSafeEqual } from 'node:crypto';

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
