// `orch cluster token` (on the coordinator's host): the join token nodes and CLIs need,
// `orch1.<CA fingerprint>.<secret>`; `orch node revoke NAME`: refuse a node's certificate.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import type { RevokeNodeResponse } from '../../proto/gen/orch/v1/coordinator.js';
import { loadGlobalConfig } from '../../runtime/config/index.js';
import { resolveToken } from '../../runtime/grpc-auth.js';
import { orchHome } from '../../runtime/paths.js';
import { formatJoinToken, secretOf } from '../../runtime/tls/join-token.js';
import { certFingerprint } from '../../runtime/tls/x509.js';
import { CliError, withApi, type GlobalArgs } from '../client.js';

export function clusterCommands(y: Argv): Argv {
  return y.command('token', 'Print the join token (run on the coordinator\'s host): give it to nodes and CLIs in ORCH_TOKEN or ORCH_TOKEN_FILE', (a) => a
    .option('read-only', { type: 'boolean', default: false, describe: 'The read-only token (cluster.read_token): status, lists, stream, cost, metrics only' }),
  async (argv) => {
    const home = orchHome();
    const caFile = join(home, 'tls', 'ca.crt');
    if (!existsSync(caFile)) {
      throw new CliError(`no cluster CA under ${join(home, 'tls')}: start the coordinator in fleet mode first (\`orch serve\` with nats.url/database.url or --listen beyond loopback), on this host and ORCH_HOME`);
    }
    const { config } = await loadGlobalConfig(home);
    const secret = argv.readOnly ? config.cluster?.read_token : secretOf(resolveToken(undefined, config.cluster?.token));
    if (!secret) {
      throw new CliError(argv.readOnly
        ? `no read-only token: set cluster.read_token in ${join(home, 'config.yml')} and restart \`orch serve\``
        : `no cluster token: set cluster.token in ${join(home, 'config.yml')} (or ORCH_TOKEN / ORCH_TOKEN_FILE)`);
    }
    process.stdout.write(formatJoinToken({ caFingerprint: certFingerprint(readFileSync(caFile, 'utf8')), secret }) + '\n');
  }).demandCommand(1, 'name a cluster command: token');
}

export function nodeRevokeCommand(y: Argv): Argv {
  return y.command('revoke <name>', 'Refuse a node\'s certificate from now on (its running attempts are re-queued); the name may enrol again', (a) => a
    .positional('name', { type: 'string', demandOption: true }),
  async (argv) => withApi(argv as unknown as GlobalArgs, async (api) => {
    const r = await api.call<'revokeNode', object, RevokeNodeResponse>('revokeNode', { name: String(argv.name) });
    if ((argv as GlobalArgs).json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`node ${r.name} revoked at ${r.revokedAt}: its certificate is refused; ${r.running} running attempt(s) handed back\n`);
  }));
}
