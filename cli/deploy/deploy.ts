// `orch node deploy USER@HOST`: one agent-node set up over SSH, step by step with
// progress: verify the host key, check the host, install or upgrade orch, write the
// node's config (0600, the token over the channel's stdin), start its service, wait until
// it has registered with the coordinator. What was done is recorded locally so that
// `orch node remove NAME` can undo it.
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import type { ListNodesResponse, StatusResponse } from '../../proto/gen/orch/v1/coordinator.js';
import { isLoopbackListen } from '../../runtime/grpc-auth.js';
import { redact } from '../../runtime/redact.js';
import { CliError, type Api } from '../client.js';
import { offlineBundle } from './bundle.js';
import { describeHost, hostProblems, parseProbe, PROBE_SCRIPT, type HostFacts } from './host-check.js';
import { nodeConfigYaml } from './node-config.js';
import { chooseService, startService, type NodeService, type ServiceParams } from './service.js';
import { sq, SshHost, type SshTarget } from './ssh.js';

export interface DeployOptions {
  target: SshTarget;
  name?: string;
  slots?: number;
  /** ORCH_HOME on the host (absolute); default $HOME/.orch of the SSH user. */
  orchHome?: string;
  natsUrl?: string;
  /** Extra YAML for the node's config.yml (agents, tmux, labels...). */
  nodeConfigFile?: string;
  /** Install from the registry with npm on the host (this package spec) instead of copying the bundle. */
  fromRegistry?: string;
  waitSeconds: number;
  token: string;
  /** Where this machine keeps bundles and deploy records ($ORCH_HOME/deploy). */
  localDir: string;
}

/** What `orch node remove` needs to undo a deploy. No secret in it. */
export interface DeployRecord {
  name: string;
  user: string;
  host: string;
  port: number;
  identity?: string;
  knownHosts: string;
  orchHome: string;
  service: NodeService;
  params: ServiceParams;
  installed: string;
  deployedAt: string;
}

export type Say = (line: string) => void;

export function recordFile(localDir: string, name: string): string {
  return join(localDir, 'nodes', `${name}.json`);
}

export function readRecord(localDir: string, name: string): DeployRecord | undefined {
  const f = recordFile(localDir, name);
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) as DeployRecord : undefined;
}

/** Every line shown passes redaction (the token is registered as a secret). */
export function sayer(write: (s: string) => void): Say {
  return (line) => write(redact(line) + '\n');
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export async function deployNode(api: Api, o: DeployOptions, say: Say): Promise<DeployRecord & { seconds: number }> {
  const t0 = Date.now();
  let step = 0;
  const total = 6;
  const begin = (what: string) => { say(`[${++step}/${total}] ${what}`); return Date.now(); };
  const done = (since: number, what = 'done') => say(`      ${what} (${((Date.now() - since) / 1000).toFixed(1)} s)`);

  // The coordinator first: nothing on the host is touched if the node could not join.
  const status = await api.call<'getStatus', object, StatusResponse>('getStatus', {}, 15_000);
  const coordinator = api.addresses.join(',');
  if (api.addresses.some(isLoopbackListen)) {
    throw new CliError(`the coordinator address ${coordinator} is a loopback address the node cannot reach: pass --coordinator HOST:PORT as the host sees the coordinator`, 2);
  }
  const natsUrl = o.natsUrl ?? /nats:\/\/[^\s,;)]+/.exec(status.bus)?.[0];
  if (!natsUrl) throw new CliError(`the coordinator at ${coordinator} does not use NATS (${status.bus || 'no bus'}): deploy needs a fleet-mode coordinator (orch serve --nats-url), or pass --nats URL`, 2);
  if (!o.natsUrl && /^nats:\/\/(localhost|127\.|\[?::1)/.test(natsUrl)) {
    throw new CliError(`the coordinator's NATS URL ${natsUrl} is a loopback address the node cannot reach: pass --nats nats://HOST:PORT as the host sees it`, 2);
  }
  const extra = o.nodeConfigFile ? { file: o.nodeConfigFile, text: readFileSync(o.nodeConfigFile, 'utf8') } : undefined;

  let since = begin(`connecting to ${o.target.user}@${o.target.host}:${o.target.port}`);
  const ssh = await SshHost.connect(o.target);
  try {
    const hk = ssh.hostKey!;
    done(since, hk.verdict === 'recorded'
      ? `new host key ${hk.type} ${hk.fingerprint} trusted (--accept-new-host-key) and recorded in ${o.target.knownHosts}`
      : `host key ${hk.type} ${hk.fingerprint} matches ${o.target.knownHosts}`);

    since = begin('checking the host');
    const facts: HostFacts = parseProbe(await ssh.run('checking the host', 'sh -s', PROBE_SCRIPT));
    for (const l of describeHost(facts)) say(`      ${l}`);
    const problems = hostProblems(facts);
    if (problems.length) throw new CliError(`${ssh.label} cannot run an orch node:\n  - ${problems.join('\n  - ')}`);
    const name = o.name ?? facts.hostname.split('.')[0];
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new CliError(`node name "${name}" must be 1-64 letters, digits, - or _ (pass --name)`, 2);
    const home = o.orchHome ?? `${facts.home}/.orch`;
    // Written unquoted into a systemd unit and shell lines: only characters that need no quoting there.
    if (!/^\/[A-Za-z0-9._+@/-]*$/.test(home)) throw new CliError(`--orch-home must be an absolute path on the host of letters, digits and . _ + @ - /, got "${home}"`, 2);
    if (facts.systemd && !/^\/[A-Za-z0-9._+@/-]*$/.test(facts.node)) throw new CliError(`the host's node binary path "${facts.node}" holds characters a systemd unit would need quoted: install node under a plain path (e.g. /usr/bin/node)`);
    done(since, `fit for a node named ${name} (ORCH_HOME ${home})`);

    since = begin(o.fromRegistry ? `installing ${o.fromRegistry} from the registry` : 'installing orch (offline bundle)');
    const installed = await install(ssh, home, facts, o, say);
    done(since, installed.line);

    since = begin(`writing ${home}/config.yml (mode 0600)`);
    const existing = (await ssh.exec(`cat ${sq(home)}/config.yml 2>/dev/null`)).stdout;
    const yaml = nodeConfigYaml(existing, extra, { name, slots: o.slots, coordinator, natsUrl, token: o.token });
    // The text (with the token) travels on the channel's stdin; the command line holds only paths.
    await ssh.run('writing the config', [
      `umask 077 && mkdir -p ${sq(home)}/state && chmod 700 ${sq(home)}`,
      `cat > ${sq(home)}/config.yml.tmp && chmod 600 ${sq(home)}/config.yml.tmp && mv ${sq(home)}/config.yml.tmp ${sq(home)}/config.yml`,
    ].join(' && '), yaml);
    done(since, `coordinator ${coordinator}, NATS ${natsUrl}, ${o.slots ? `${o.slots} slots, ` : ''}cluster token`);

    const params: ServiceParams = { name, user: facts.user, orchHome: home, node: facts.node, orchJs: `${home}/lib/current/bin/orch.js` };
    const service = chooseService(params, facts.systemd);
    since = begin(service.kind === 'supervised' ? 'starting the node (no systemd on this host)' : `starting the systemd unit ${service.unit}`);
    const started = Date.now();
    say(`      ${await startService(ssh, service, params)}`);
    // Old installs go once the node runs from the new one.
    await ssh.run('removing old installs', `cd ${sq(home)}/lib && for d in orch-*; do [ "$d" = ${sq(installed.dir)} ] || rm -rf "$d"; done`);
    done(since);

    // Recorded before the wait: a node that fails to join can still be undone with `orch node remove`.
    const rec: DeployRecord = {
      name, user: o.target.user, host: o.target.host, port: o.target.port, identity: o.target.identity, knownHosts: o.target.knownHosts,
      orchHome: home, service, params, installed: installed.id, deployedAt: new Date().toISOString(),
    };
    mkdirSync(join(o.localDir, 'nodes'), { recursive: true });
    writeFileSync(recordFile(o.localDir, name), JSON.stringify(rec, null, 2) + '\n');

    since = begin(`waiting for ${name} to register with the coordinator at ${coordinator}`);
    await waitRegistered(api, name, started, o.waitSeconds, say, async () => tail(ssh, service, home));
    done(since, `${name} is up`);
    return { ...rec, seconds: (Date.now() - t0) / 1000 };
  } finally {
    ssh.close();
  }
}

/** Install the bundle (or the registry package) unless the host runs that very build already. */
async function install(ssh: SshHost, home: string, facts: HostFacts, o: DeployOptions, say: Say): Promise<{ id: string; dir: string; line: string }> {
  const lib = `${sq(home)}/lib`;
  const current = (await ssh.exec(`cat ${lib}/current/.orch-install 2>/dev/null`)).stdout.trim();
  let id: string;
  let bundle: Awaited<ReturnType<typeof offlineBundle>> | undefined;
  if (o.fromRegistry) id = `registry-${o.fromRegistry.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  else {
    bundle = await offlineBundle(join(o.localDir, 'bundles'), (m) => say(`      ${m}`));
    id = bundle.id;
    say(`      bundle ${bundle.id}: ${mb(bundle.bytes)}${bundle.built ? ' (built now)' : ' (cached)'}`);
  }
  const dir = `orch-${id}`;
  if (current === id) return { id, dir, line: `orch ${id} is installed already` };
  const d = `${lib}/${dir}`;
  if (bundle) {
    const t = Date.now();
    let sent = 0;
    let shown = 0;
    const size = bundle.bytes;
    // Counted on its way to the channel (a 'data' listener on the file would start it flowing before the channel opens).
    const stream = createReadStream(bundle.file).pipe(new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length;
        const pct = Math.floor((sent / size) * 4) * 25;
        if (pct > shown && pct < 100) { shown = pct; say(`      copied ${pct}% of ${mb(size)}`); }
        cb(null, chunk);
      },
    }));
    await ssh.run('unpacking the bundle', [
      `mkdir -p ${lib} && rm -rf ${d}.tmp && mkdir -p ${d}.tmp`,
      `tar -xzf - -C ${d}.tmp --strip-components=1`,
      `echo ${sq(id)} > ${d}.tmp/.orch-install && rm -rf ${d} && mv ${d}.tmp ${d}`,
    ].join(' && '), stream);
    say(`      copied and unpacked ${mb(size)} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } else {
    if (!facts.npmVersion) throw new CliError(`${ssh.label} has no npm: install npm there, or deploy without --from-registry (the offline bundle needs none)`);
    await ssh.run(`npm install ${o.fromRegistry}`, [
      `mkdir -p ${lib} && rm -rf ${d}`,
      `npm install --prefix ${d} --omit=dev --no-audit --no-fund ${sq(o.fromRegistry!)}`,
      `echo ${sq(id)} > ${d}/node_modules/orch/.orch-install`,
    ].join(' && '));
  }
  // The package itself: the bundle's root, or the registry install's node_modules/orch.
  const pkg = bundle ? dir : `${dir}/node_modules/orch`;
  const version = (await ssh.run('checking the install', `${sq(facts.node)} ${lib}/${pkg}/bin/orch.js --version`)).trim();
  await ssh.run('switching to the new install', `ln -sfn ${sq(pkg)} ${lib}/current`);
  return { id, dir, line: current ? `upgraded ${current} -> ${id} (orch ${version})` : `installed orch ${version} in ${home}/lib/${dir}` };
}

/** The last lines the node logged, for an error (redacted by the caller's say). */
async function tail(ssh: SshHost, s: NodeService, home: string): Promise<string> {
  const cmd = s.kind === 'supervised' ? `tail -n 30 ${sq(home)}/node.log 2>&1`
    : `journalctl ${s.kind === 'systemd-user' ? '--user ' : ''}-u ${s.unit} -n 30 --no-pager 2>&1`;
  return (await ssh.exec(cmd)).stdout;
}

async function waitRegistered(api: Api, name: string, since: number, seconds: number, say: Say, logTail: () => Promise<string>): Promise<void> {
  const end = Date.now() + seconds * 1000;
  let lastSay = Date.now();
  for (;;) {
    const { nodes } = await api.call<'listNodes', object, ListNodesResponse>('listNodes', {}, 15_000).catch(() => ({ nodes: [] }));
    const n = nodes.find((x) => x.name === name);
    // Registered by the process just started: heard from since then, and placeable.
    if (n && (n.state === 'up' || n.state === 'draining') && Date.parse(n.lastHeartbeat) >= since - 1000) {
      say(`      ${name}: ${n.state}, ${n.slots} slots, agents ${n.agents.filter((a) => a.installed).map((a) => a.name).join(',') || 'none'}, from ${n.address}`);
      return;
    }
    if (Date.now() > end) {
      throw new CliError(`${name} did not register with the coordinator within ${seconds} s. Its last log lines:\n${redact(await logTail())}`);
    }
    if (Date.now() - lastSay > 5000) { lastSay = Date.now(); say(`      still waiting (${n ? `coordinator sees it ${n.state}` : 'not registered yet'})`); }
    await new Promise((r) => setTimeout(r, 300));
  }
}
