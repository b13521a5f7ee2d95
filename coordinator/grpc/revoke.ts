// `orch node revoke NAME`: the node's certificate is refused from now on, its running
// attempts are handed back as a vanished node's, and the name may enrol again.
import type { RevokeNodeResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { Coordinator } from '../coordinator.js';
import type { Identities } from '../identities.js';
import { InvalidArgument } from './handlers.js';
import { logger } from '../../runtime/log.js';

const log = logger('identities');

export async function revokeNode(c: Coordinator, identities: Identities | undefined, name: string): Promise<RevokeNodeResponse> {
  if (!identities) throw new InvalidArgument('this coordinator does not serve TLS (embedded mode): nodes have no certificates to revoke');
  const id = await identities.revoke(name);
  if (!id) throw new InvalidArgument(`node "${name}" never enrolled (known: ${(await identities.list()).map((i) => i.name).join(', ') || 'none'})`);
  const running = c.registry.revoke(name);
  log.warn('node revoked: its certificate is refused and its attempts are handed back', { node: name, running });
  return { name, revokedAt: id.revokedAt?.toISOString() ?? '', running };
}
