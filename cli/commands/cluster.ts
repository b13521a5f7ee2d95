// `orch cluster token` (on the coordinator's host): the join token nodes and CLIs need,
// `orch1.<CA fingerprint>.<secret>`; `orch node revoke NAME`: refuse a node's certificate.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import type { CliCertificate, RevokeNodeResponse } from '../../proto/gen/orch/v1/coordinator.js';
import { loadGlobalConfig } from '../../runtime/config/index.js';
import { resolveToken } from '../../runtime/grpc-auth.js';
import { orchHome } from '../../runtime/paths.js';
import { formatJoinToken, secretOf } from '../../runtime/tls/join-token.js';
import { certFingerprint, makeCsr, newKeyPair } from '../../runtime/tls/x509.js';
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
  }).command('cli-cert <name>', 'Get a client certificate for a CLI user (needs the cluster token): the CLI then authenticates with it, no token needed', (a) => a
    .positional('name', { type: 'string', demandOption: true, describe: 'User name (letters, digits, - or _)' })
    .option('read-only', { type: 'boolean', default: false, describe: 'Reads only (status, lists, stream, cost, metrics)' })
    .option('out', { type: 'string', default: '.', describe: 'Directory for NAME.key (0600) and NAME.crt' }),
  async (argv) => withApi(argv as unknown as GlobalArgs, async (api) => {
    const name = String(argv.name);
    const full = `${argv.readOnly ? 'cli-ro' : 'cli'}.${name}`;
    const keys = await newKeyPair();
    const r = await api.call<'issueCliCertificate', object, CliCertificate>('issueCliCertificate', { name, csrPem: await makeCsr(full, keys), readOnly: argv.readOnly });
    mkdirSync(argv.out, { recursive: true });
    const keyFile = resolve(argv.out, `${name}.key`);
    const certFile = resolve(argv.out, `${name}.crt`);
    writeFileSync(keyFile, keys.key, { mode: 0o600 });
    writeFileSync(certFile, `${r.certPem.trimEnd()}\n${r.caPem.trimEnd()}\n`);
    process.stdout.write(`${r.name}: use it with\n  ORCH_CLI_CERT=${certFile} ORCH_CLI_KEY=${keyFile} orch --coordinator ${api.address} …\n`);
  })).demandCommand(1, 'name a cluster command: token, cli-cert');
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
