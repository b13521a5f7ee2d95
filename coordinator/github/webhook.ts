// POST /webhooks/github: a delivery counts only with a valid x-hub-signature-256 for
// gh.webhook_secret (checked by @octokit/webhooks); anything else is refused with 401
// and logged. Verified events go to the sync of the repository they name.
import { Webhooks } from '@octokit/webhooks';
import { logger } from '../../runtime/log.js';
import type { HttpHandler } from '../http/server.js';

const log = logger('github.webhook');

export function webhookHandler(secret: string | undefined, deliver: (event: string, payload: any) => Promise<boolean>): HttpHandler {
  const verifier = secret ? new Webhooks({ secret }) : undefined;
  return async (req) => {
    const event = String(req.headers['x-github-event'] ?? '');
    const id = String(req.headers['x-github-delivery'] ?? '');
    const signature = req.headers['x-hub-signature-256'];
    const text = req.body.toString('utf8');
    if (!verifier) {
      log.warn('webhook refused: gh.webhook_secret is not set, so no delivery can be verified', { event, delivery: id });
      return { status: 401, body: { error: 'webhooks are not configured' } };
    }
    let ok = false;
    try {
      ok = typeof signature === 'string' && await verifier.verify(text, signature);
    } catch {
      ok = false;
    }
    if (!ok) {
      log.warn('webhook refused: bad or missing signature', { event, delivery: id, from: req.headers['x-forwarded-for'] ?? '', signed: typeof signature === 'string' });
      return { status: 401, body: { error: 'bad signature' } };
    }
    let payload: any;
    try {
      payload = JSON.parse(text);
    } catch {
      log.warn('webhook refused: body is not JSON', { event, delivery: id });
      return { status: 400, body: { error: 'body is not JSON' } };
    }
    if (event === 'ping') return { status: 200, body: { ok: true } };
    const taken = await deliver(event, payload);
    return { status: taken ? 200 : 202, body: { ok: true } };
  };
}
