// Who is calling the fake GitHub: a token it issued (users, app installations; expired
// ones refused) or a GitHub App's JWT, verified against the app's public key (RS256, iss, exp).
import { createVerify } from 'node:crypto';
import { HttpError } from './rest-common.js';
import type { GitHubState } from './state.js';

export interface Caller { login: string; appId?: number }

export function authenticate(header: string | undefined, state: GitHubState, app: { id: number; publicKey: string } | undefined): Caller | HttpError {
  const m = /^(?:token|bearer)\s+(\S+)$/i.exec(header ?? '');
  if (!m) return new HttpError(401, 'Requires authentication');
  const t = m[1];
  if (t.split('.').length === 3 && app) {
    const [head, claims, sig] = t.split('.');
    const v = createVerify('RSA-SHA256');
    v.update(`${head}.${claims}`);
    if (!v.verify(app.publicKey, Buffer.from(sig, 'base64url'))) return new HttpError(401, 'A JSON web token could not be decoded');
    const c = JSON.parse(Buffer.from(claims, 'base64url').toString()) as { iss: number | string; exp: number };
    if (Number(c.iss) !== app.id) return new HttpError(401, "'Issuer' claim ('iss') must be an Integer");
    if (c.exp * 1000 < Date.now()) return new HttpError(401, "'Expiration time' claim ('exp') is too far in the past");
    return { login: '', appId: app.id };
  }
  const known = state.tokens.get(t);
  if (!known || (known.expiresAt && known.expiresAt.getTime() < Date.now())) return new HttpError(401, 'Bad credentials');
  return { login: known.login, ...(known.login === 'orch-app[bot]' && app ? { appId: app.id } : {}) };
}
