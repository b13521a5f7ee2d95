// A secure fleet (issue 9), with real processes: nats-server with a password, a coordinator
// serving TLS only, `orch node start` given nothing but the join token (in a file outside
// its ORCH_HOME). An impostor holding the token cannot act as an enrolled node; a read-only
// token reads and changes nothing; no secret reaches a file, a log line or an argv.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { randomBytes, createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorClient } from '../../proto/gen/orch/v1/coordinator.js';
import { AttemptStarted, HeldAttempt, NodeGatewayClient, OutputChunk, RegisterRequest } from '../../proto/gen/orch/v1/node.js';
import { AttemptResult, NodeInfo } from '../../proto/gen/orch/v1/types.js';
import { NatsBus } from '../../runtime/bus/nats.js';
import { HEARTBEAT_BUCKET, subjects } from '../../runtime/bus/subjects.js';
import { tokenMetadata } from '../../runtime/grpc-auth.js';
import { HeartbeatSealer } from '../../runtime/heartbeat-seal.js';
import { channelCredentials, channelOptions, fetchPinnedCa, type ClientTls } from '../../runtime/tls/channel.js';
import { parseJoinToken } from '../../runtime/tls/join-token.js';
import { certFingerprint, commonName, KEY_ALG, makeCsr, newKeyPair, x509 } from '../../runtime/tls/x509.js';
import { Fleet, instantAgent } from '../harness/fleet.js';
import { natsServerAvailable } from '../harness/nats-server.js';
import { makeRepo, type OrchHome } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

interface TaskJson { id: number; status: string; attempts: number; node: string; summary?: string; attempt_history: Array<{ number: number; node: string; state: string; dir: string }> }

const available = natsServerAvailable();
if (!available) console.warn('\n*** SKIPPING fleet security tests: nats-server is not installed (apt-get install nats-server) ***\n');

const rand = () => randomBytes(12).toString('hex');
const SECRETS = {
  token: `cluster-${rand()}`,
  readToken: `read-${rand()}`,
  natsPassword: `nats-${rand()}`,
  agentKey: `sk-agent-${rand()}`,
};

/** A unary gRPC call as a promise. */
function call<Res>(client: object, method: string, req: unknown, md: Metadata): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client as Record<string, (r: unknown, m: Metadata, o: object, cb: (e: ServiceError | null, r: Res) => void) => void>)[method]
      .call(client, req, md, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

async function refusal(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('the call was accepted');
}

/** Every regular file under dir (symlinks and sockets skipped). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Where each secret occurs in the files under dir: `file: name`. */
function secretsInFiles(dir: string, secrets: Record<string, string>): string[] {
  const hits: string[] = [];
  for (const f of filesUnder(dir)) {
    let data: Buffer;
    try { data = readFileSync(f); } catch { continue; } // gone meanwhile (a temp file)
    for (const [name, value] of Object.entries(secrets)) if (data.includes(value)) hits.push(`${f}: ${name}`);
  }
  return hits;
}

/** The pids of `roots` and of all their descendants, from /proc. */
function descendants(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch { /* exited */ }
  }
  const out = new Set<number>();
  const walk = (p: number) => { if (out.has(p)) return; out.add(p); for (const c of children.get(p) ?? []) walk(c); };
  for (const r of roots) walk(r);
  return [...out];
}

function tmuxServerPid(home: OrchHome): Promise<number | undefined> {
  return new Promise((r) => execFile('tmux', ['-L', home.tmuxSocket, 'display-message', '-p', '#{pid}'], (err, out) => r(err ? undefined : Number(String(out).trim()))));
}

describe.skipIf(!available)('a secure fleet: TLS only, node identities, tokens, no secret anywhere', () => {
  let fleet: Fleet;
  let scratch: string;
  let gate: string;
  let runsFile: string;
  let keyProof: string;
  let ca: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'orch-secure-'));
    runsFile = join(scratch, 'runs.txt');
    gate = join(scratch, 'gate');
    keyProof = join(scratch, 'agent-key.sha256');
    // Each test's agent waits at its own gate.
    const gated = instantAgent(scratch, runsFile, { file: 'gated-agent.sh', gateFile: gate });
    const held = instantAgent(scratch, runsFile, { file: 'held-agent.sh', gateFile: `${gate}-held` });
    const keyGated = instantAgent(scratch, runsFile, { file: 'key-gated-agent.sh', gateFile: `${gate}-keyed` });
    const busGated = instantAgent(scratch, runsFile, { file: 'bus-gated-agent.sh', gateFile: `${gate}-bus` });
    const neverDone = instantAgent(scratch, runsFile, { file: 'never-agent.sh', gateFile: `${gate}-never` });
    // An agent that proves it got its key (a hash of it, outside every ORCH_HOME), then waits at its gate.
    const keyed = join(scratch, 'keyed-agent.sh');
    writeFileSync(keyed, `#!/bin/bash\nprintf %s "$TEST_AGENT_KEY" | sha256sum | cut -d' ' -f1 > ${JSON.stringify(keyProof)}\nexec ${JSON.stringify(keyGated)}\n`, { mode: 0o755 });
    fleet = new Fleet({
      nodes: 1, slots: 2, token: SECRETS.token,
      agentsYaml: `agents:\n  gated:\n    kind: command\n    command: ${gated}\n  held:\n    kind: command\n    command: ${held}\n  busy:\n    kind: command\n    command: ${busGated}\n  never:\n    kind: command\n    command: ${neverDone}\n  keyed:\n    kind: command\n    command: ${keyed}\n    env:\n      TEST_AGENT_KEY: \${ORCH_TEST_AGENT_KEY}\n`,
      clusterYaml: ['read_token: ${ORCH_TEST_READ_TOKEN}'],
      secretsOutsideHomes: { natsPassword: SECRETS.natsPassword, env: { ORCH_TEST_AGENT_KEY: SECRETS.agentKey, ORCH_TEST_READ_TOKEN: SECRETS.readToken } },
    });
    await fleet.start();
    const repo = await makeRepo(fleet.coordinator.dir);
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    expect(add.code, add.stderr).toBe(0);
    ca = await fetchPinnedCa(fleet.address, parseJoinToken(fleet.joinToken)!.caFingerprint);
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
  });

  const cli = (args: string[], env: NodeJS.ProcessEnv = fleet.cliEnv()) => fleet.coordinator.run(args, { env });
  const task = (id: number) => fleet.coordinator.json<TaskJson>(['task', 'get', String(id)], { env: fleet.cliEnv() });
  const addTask = (title: string, agent: string) => fleet.coordinator.json<TaskJson>(['task', 'add', title, '--agent', agent], { env: fleet.cliEnv() });

  it('a plaintext client gets no answer from the coordinator port; a client with the join token does', async () => {
    const plain = new CoordinatorClient(fleet.address, credentials.createInsecure());
    const err = await refusal(call(plain, 'getStatus', {}, tokenMetadata(SECRETS.token)));
    plain.close();
    expect(err.code).toBe(status.UNAVAILABLE);
    // Raw HTTP/2 (the gRPC plaintext preface and a SETTINGS frame): what comes back is no HTTP/2, at most a TLS alert.
    const back = await new Promise<Buffer>((resolve, reject) => {
      const got: Buffer[] = [];
      const s = tcpConnect(Number(fleet.address.split(':')[1]), '127.0.0.1', () => {
        s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
      });
      s.on('data', (d) => got.push(d));
      s.on('close', () => resolve(Buffer.concat(got)));
      s.on('error', (e) => (got.length ? resolve(Buffer.concat(got)) : (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(Buffer.alloc(0)) : reject(e)));
    });
    expect(back.length === 0 || back[0] === 0x15, `the coordinator answered plaintext: ${back.subarray(0, 32).toString('hex')}`).toBe(true);
    // The same call over TLS with the CA the join token pins is answered.
    const tls = new CoordinatorClient(fleet.address, channelCredentials({ ca }), channelOptions({ ca }));
    const st = await call<{ mode: string }>(tls, 'getStatus', {}, tokenMetadata(SECRETS.token));
    tls.close();
    expect(st.mode).toBe('fleet');
  });

  it('a node or CLI whose join token pins another CA refuses the coordinator, and says why', async () => {
    const other = `orch1.${'ab'.repeat(32)}.${parseJoinToken(fleet.joinToken)!.secret}`;
    const r = await cli(['status'], { ORCH_TOKEN: other, ORCH_COORDINATOR: fleet.address });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/does not present the CA the join token pins/);
    const home = (await import('../harness/orch.js')).OrchHome;
    const h = new home('orch-secure-stranger-');
    try {
      h.writeConfig(`nats:\n  user: orch\n  password: \${ORCH_TEST_NATS_PASSWORD}\ntmux:\n  socket: ${h.tmuxSocket}\n`);
      const p = h.spawn(['node', 'start', '--coordinator', fleet.address, '--nats', fleet.nats.url, '--name', 'stranger'], 'node', { ORCH_TOKEN: other, ...fleet.secretEnv() });
      const code = await new Promise<number | null>((resolve) => p.on('exit', (c) => resolve(c)));
      expect(code).not.toBe(0);
      expect(h.logOf('node')).toMatch(/does not present the CA the join token pins/);
      expect(existsSync(join(h.home, 'tls', 'node.crt'))).toBe(false);
    } finally {
      await h.cleanup();
    }
  });

  it('a node given only the join token (in ORCH_TOKEN_FILE) joins, and keeps its identity across a restart', async () => {
    const n = fleet.nodes[0];
    expect(readFileSync(join(n.home.home, 'config.yml'), 'utf8')).not.toMatch(/^\s+token:/m);
    const nodes = await fleet.coordinator.json<Array<{ name: string; state: string }>>(['node', 'list'], { env: fleet.cliEnv() });
    expect(nodes.find((x) => x.name === 'node1')?.state).toBe('up');
    const tlsDir = join(n.home.home, 'tls');
    expect(statSync(join(tlsDir, 'node.key')).mode & 0o777).toBe(0o600);
    const cert = readFileSync(join(tlsDir, 'node.crt'), 'utf8');
    expect(commonName(cert)).toBe('node1');
    expect(certFingerprint(readFileSync(join(tlsDir, 'ca.crt'), 'utf8'))).toBe(parseJoinToken(fleet.joinToken)!.caFingerprint);
    // The coordinator's keys are private too.
    for (const k of ['ca.key', 'server.key']) expect(statSync(join(fleet.coordinator.home, 'tls', k)).mode & 0o777).toBe(0o600);

    await n.home.stop(n.proc);
    await fleet.restartNode(n);
    await waitFor(async () => {
      if (n.proc.exitCode !== null) throw new Error(`node1 exited ${n.proc.exitCode}:\n${n.home.logOf('node').slice(-2000)}`);
      if ((n.home.logOf('node').match(/orch agent-node node1 running/g) ?? []).length < 2) return false;
      const l = await fleet.coordinator.json<Array<{ name: string; state: string }>>(['node', 'list'], { env: fleet.cliEnv() });
      return l.some((x) => x.name === 'node1' && x.state === 'up');
    }, { timeoutMs: 30_000, what: 'node1 to come back' });
    expect(readFileSync(join(tlsDir, 'node.crt'), 'utf8')).toBe(cert);
    expect(n.home.logOf('node').match(/enrolled with the coordinator/g)).toHaveLength(1);
  }, 60_000);

  it('an impostor with the token but another certificate is refused under node1, and node1\'s running task is untouched', async () => {
    const t = await addTask('Runs on node1 while an impostor tries', 'gated');
    await waitFor(async () => (await task(t.id)).status === 'in_progress', { timeoutMs: 30_000, what: 'the task to run on node1' });
    const sessions = join(fleet.nodes[0].home.home, 'state', 'sessions');
    const stolen = await waitFor(() => readdirSync(sessions).find((f) => f.endsWith('.json'))?.replace(/\.json$/, ''), { timeoutMs: 10_000, what: 'node1\'s session index' });
    const secret = parseJoinToken(fleet.joinToken)!.secret;
    const md = () => tokenMetadata(secret);
    const gw = (tls: ClientTls) => new NodeGatewayClient(fleet.address, channelCredentials(tls), channelOptions(tls));

    // It cannot enrol as node1: the name is held by node1's key.
    const keys = await newKeyPair();
    const anon = gw({ ca });
    const enrolAsNode1 = await refusal(call(anon, 'enroll', { name: 'node1', csrPem: await makeCsr('node1', keys) }, md()));
    expect(enrolAsNode1.code).toBe(status.PERMISSION_DENIED);
    expect(enrolAsNode1.details).toMatch(/already enrolled .*another key/);
    // With no certificate at all, node calls are refused.
    const bare = await refusal(call(anon, 'register', RegisterRequest.fromPartial({ node: { name: 'node1', slots: 1 } }), md()));
    expect(bare.code, bare.details).toBe(status.PERMISSION_DENIED);
    expect(bare.details).toMatch(/enrolled certificate/);

    // A self-made certificate saying CN=node1 carries no identity (it does not chain to the cluster CA).
    const selfSigned = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: 'CN=node1', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
      keys: { publicKey: keys.publicKey, privateKey: keys.privateKey }, signingAlgorithm: KEY_ALG,
    });
    const forged = gw({ ca, key: keys.key, cert: selfSigned.toString('pem') + '\n' });
    const forgedErr = await refusal(call(forged, 'heartbeat', NodeInfo.fromPartial({ name: 'node1', slots: 1 }), md()));
    expect(forgedErr.code, forgedErr.details).toBe(status.PERMISSION_DENIED);

    // Enrolled under its own name, it still may not act as node1, nor touch node1's attempt (even with its fencing token).
    const mkeys = await newKeyPair();
    const enrolled = await call<{ certPem: string }>(anon, 'enroll', { name: 'mallory', csrPem: await makeCsr('mallory', mkeys) }, md());
    const mallory = gw({ ca, key: mkeys.key, cert: enrolled.certPem });
    const attempt = { taskId: t.id, attempt: 1, token: stolen };
    const tries: Array<[string, unknown]> = [
      ['register', RegisterRequest.fromPartial({ node: { name: 'node1', slots: 1 } })],
      ['heartbeat', NodeInfo.fromPartial({ name: 'node1', slots: 1 })],
      ['reportStarted', AttemptStarted.fromPartial({ ...attempt, node: 'node1', session: 'x', dir: '/tmp', worktree: '/tmp' })],
      ['reportResult', AttemptResult.fromPartial({ ...attempt, node: 'node1', outcome: 'success' })],
      ['reportResult', AttemptResult.fromPartial({ ...attempt, node: 'mallory', outcome: 'error' })],
      ['checkLease', HeldAttempt.fromPartial(attempt)],
    ];
    for (const [method, req] of tries) {
      const e = await refusal(call(mallory, method, req, md()));
      expect(e.code, `${method}: ${e.details}`).toBe(status.PERMISSION_DENIED);
      expect(e.details).toMatch(/node "mallory"|"mallory"/);
    }
    const upload = await new Promise<ServiceError | null>((resolve) => {
      const c = mallory.uploadOutput(md(), { deadline: Date.now() + 10_000 }, (e) => resolve(e));
      c.write(OutputChunk.fromPartial({ ...attempt, seq: 1, offset: 0, data: Buffer.from('IMPOSTOR OUTPUT\n') }));
      c.end();
    });
    expect(upload?.code).toBe(status.PERMISSION_DENIED);
    for (const c of [anon, forged, mallory]) c.close();

    // node1 is up and its task goes on to its own end.
    const nodes = await fleet.coordinator.json<Array<{ name: string; state: string }>>(['node', 'list'], { env: fleet.cliEnv() });
    expect(nodes.find((x) => x.name === 'node1')?.state).toBe('up');
    expect((await task(t.id)).status).toBe('in_progress');
    writeFileSync(gate, '');
    const done = await waitFor(async () => { const x = await task(t.id); return x.status === 'done' ? x : undefined; }, { timeoutMs: 60_000, what: 'node1\'s task to finish' });
    expect(done.attempts).toBe(1);
    expect(done.node).toBe('node1');
    const out = readFileSync(join(done.attempt_history[0].dir, 'output.log'), 'utf8');
    expect(out).not.toContain('IMPOSTOR');
    expect(fleet.coordinator.logOf('serve')).toMatch(/may not act as node \\"node1\\"|may not act as node "node1"/);
  }, 120_000);

  it('a read-only token reads but changes nothing', async () => {
    const r = await cli(['cluster', 'token', '--read-only'], { ...fleet.cliEnv(), ORCH_TOKEN: '' });
    expect(r.code, r.stderr).toBe(0);
    const readOnly = r.stdout.trim();
    expect(parseJoinToken(readOnly)).toEqual({ caFingerprint: parseJoinToken(fleet.joinToken)!.caFingerprint, secret: SECRETS.readToken });
    const env = { ORCH_TOKEN: readOnly, ORCH_COORDINATOR: fleet.address };
    expect((await cli(['status'], env)).code).toBe(0);
    const list = await cli(['task', 'list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    const before = (JSON.parse(list.stdout) as unknown[]).length;
    const add = await cli(['task', 'add', 'not allowed', '--agent', 'gated'], env);
    expect(add.code).not.toBe(0);
    expect(add.stderr).toMatch(/read-only token cannot call AddTask/);
    const revoke = await cli(['node', 'revoke', 'node1'], env);
    expect(revoke.stderr).toMatch(/read-only token cannot call RevokeNode/);
    expect((JSON.parse((await cli(['task', 'list', '--json'], env)).stdout) as unknown[]).length).toBe(before);
  });

  it('a CLI user authenticates with its own certificate instead of a token; read-only and revocable', async () => {
    const out = join(scratch, 'cli');
    const issued = await cli(['cluster', 'cli-cert', 'alice', '--out', out]);
    expect(issued.code, issued.stderr).toBe(0);
    expect(statSync(join(out, 'alice.key')).mode & 0o777).toBe(0o600);
    expect((await cli(['cluster', 'cli-cert', 'bob', '--read-only', '--out', out])).code).toBe(0);
    const as = (who: string) => ({ ORCH_TOKEN: '', ORCH_CLI_CERT: join(out, `${who}.crt`), ORCH_CLI_KEY: join(out, `${who}.key`), ORCH_COORDINATOR: fleet.address });
    // No token at all: the certificate is the credential.
    const list = await cli(['task', 'list', '--json'], as('alice'));
    expect(list.code, list.stderr).toBe(0);
    const drain = await cli(['node', 'drain', 'node1', '--reason', 'alice checks'], as('alice'));
    expect(drain.code, drain.stderr).toBe(0);
    expect((await cli(['node', 'resume', 'node1'], as('alice'))).code).toBe(0);
    // bob reads only.
    expect((await cli(['task', 'list'], as('bob'))).code).toBe(0);
    const bobDrains = await cli(['node', 'drain', 'node1'], as('bob'));
    expect(bobDrains.code).not.toBe(0);
    expect(bobDrains.stderr).toMatch(/read-only CLI certificate \(cli-ro\.bob\) cannot call DrainNode/);
    // A CLI certificate is no node's.
    const pem = readFileSync(join(out, 'alice.crt'), 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
    const asNode = new NodeGatewayClient(fleet.address, channelCredentials({ ca, key: readFileSync(join(out, 'alice.key'), 'utf8'), cert: pem[0] }), channelOptions({ ca }));
    const e = await refusal(call(asNode, 'heartbeat', NodeInfo.fromPartial({ name: 'node1', slots: 1 }), new Metadata()));
    asNode.close();
    expect(e.code).toBe(status.PERMISSION_DENIED);
    // Revoked: refused from then on.
    expect((await cli(['node', 'revoke', 'cli.alice'])).code).toBe(0);
    const after = await cli(['task', 'list'], as('alice'));
    expect(after.code).not.toBe(0);
    expect(after.stderr).toMatch(/revoked/);
  });

  it('no secret from env or config appears in any file under an ORCH_HOME, any log line, or any argv of the fleet\'s processes', async () => {
    // A running agent that uses its key: its process and tmux are scanned too.
    const t = await addTask('Uses its key', 'keyed');
    await waitFor(() => existsSync(keyProof) && readFileSync(keyProof, 'utf8').trim().length === 64, { timeoutMs: 30_000, what: 'the agent to use its key' });
    expect(readFileSync(keyProof, 'utf8').trim()).toBe(createHash('sha256').update(SECRETS.agentKey).digest('hex'));

    // The scan finds a secret where one is (the token file outside every home), so its silence below means something.
    expect(secretsInFiles(join(fleet.tokenFile, '..'), { token: SECRETS.token })).toHaveLength(1);

    const secrets = { ...SECRETS, joinToken: fleet.joinToken };
    const homes = [fleet.coordinator, ...fleet.nodes.map((n) => n.home)];
    // ORCH_HOMEs and, beside them, the captured logs of every process (serve.log, node.log).
    const fileHits = homes.flatMap((h) => secretsInFiles(h.dir, secrets));
    expect(fileHits).toEqual([]);
    const logs = homes.flatMap((h) => readdirSync(h.dir).filter((f) => f.endsWith('.log')).map((f) => join(h.dir, f)));
    expect(logs.length).toBeGreaterThanOrEqual(2);
    for (const l of logs) expect(lstatSync(l).size).toBeGreaterThan(0);

    const roots = [fleet.coordinatorProc.pid!, ...fleet.nodes.map((n) => n.proc.pid!), fleet.nats.pid!];
    for (const h of homes) { const p = await tmuxServerPid(h); if (p) roots.push(p); }
    const pids = descendants(roots);
    expect(pids.length).toBeGreaterThan(roots.length); // agents, tmux panes, postgres
    const argvHits: string[] = [];
    for (const pid of pids) {
      let argv: Buffer;
      try { argv = readFileSync(`/proc/${pid}/cmdline`); } catch { continue; }
      for (const [name, value] of Object.entries(secrets)) if (argv.includes(value)) argvHits.push(`${pid} ${argv.toString().replace(/\0/g, ' ')}: ${name}`);
    }
    expect(argvHits).toEqual([]);
    writeFileSync(`${gate}-keyed`, '');
    await waitFor(async () => (await task(t.id)).status === 'done', { timeoutMs: 60_000, what: 'the keyed task to finish' });
  }, 120_000);

  it('whoever can write to the bus cannot heartbeat as node1: forged, foreign and replayed heartbeats are refused and node1\'s running task is untouched', async () => {
    const t = await addTask('Runs on node1 while the bus is forged', 'busy');
    await waitFor(async () => { const x = await task(t.id); return x.status === 'in_progress' && x.node === 'node1'; }, { timeoutMs: 30_000, what: 'the task to run on node1' });
    // The impostor holds the bus's credentials (as every node does) and an enrolled name of its own.
    const bus = await NatsBus.connect({ url: fleet.nats.url, user: 'orch', password: SECRETS.natsPassword, name: 'impostor' });
    try {
      const kv = await bus.kv(HEARTBEAT_BUCKET, { ttlMs: 3_000 });
      const anon = new NodeGatewayClient(fleet.address, channelCredentials({ ca }), channelOptions({ ca }));
      const ekeys = await newKeyPair();
      const eve = await call<{ certPem: string }>(anon, 'enroll', { name: 'eve', csrPem: await makeCsr('eve', ekeys) }, tokenMetadata(parseJoinToken(fleet.joinToken)!.secret));
      anon.close();
      const genuine = await waitFor(async () => (await kv.get('node1'))?.value, { what: 'node1\'s own heartbeat on the bus' });
      // Each says node1 runs nothing: counted twice in a row, node1's attempt would be lost.
      const empty = NodeInfo.fromPartial({ name: 'node1', slots: 2, state: 'up', held: [] });
      const forgeries: Array<[string, () => Uint8Array]> = [
        ['a bare NodeInfo', () => NodeInfo.encode(empty).finish()],
        ['an unsigned heartbeat', () => new HeartbeatSealer().seal(empty)],
        ['one signed by eve', () => new HeartbeatSealer({ key: ekeys.key, cert: eve.certPem }).seal(empty)],
        ['node1\'s own, replayed', () => genuine],
      ];
      const runsBefore = readFileSync(runsFile, 'utf8');
      // For four node TTLs (node1 beats every 0.5 s), the forgeries outnumber node1's own beats.
      const until = Date.now() + 12_000;
      while (Date.now() < until) {
        for (const [, forge] of forgeries) await kv.put('node1', forge());
        await new Promise((r) => setTimeout(r, 50));
      }
      const serveLog = fleet.coordinator.logOf('serve');
      expect(serveLog).toMatch(/heartbeat on the bus refused.*unsigned heartbeat/);
      expect(serveLog).toMatch(/heartbeat on the bus refused.*not the one node \\?"node1\\?" enrolled with/);
      expect(serveLog).toMatch(/heartbeat on the bus refused.*replayed or out-of-order/);
      expect(serveLog).not.toMatch(/no longer runs an attempt placed there/);
      const nodes = await fleet.coordinator.json<Array<{ name: string; state: string }>>(['node', 'list'], { env: fleet.cliEnv() });
      expect(nodes.find((x) => x.name === 'node1')?.state).toBe('up');
      const still = await task(t.id);
      expect(still).toMatchObject({ status: 'in_progress', attempts: 1, node: 'node1' });
      expect(readFileSync(runsFile, 'utf8')).toBe(runsBefore); // no other run started meanwhile
    } finally {
      await bus.close();
    }
    writeFileSync(`${gate}-bus`, '');
    const done = await waitFor(async () => { const x = await task(t.id); return x.status === 'done' ? x : undefined; }, { timeoutMs: 60_000, what: 'node1\'s task to finish' });
    expect(done).toMatchObject({ attempts: 1, node: 'node1' });
  }, 120_000);

  it('whoever can write to the bus cannot make a node run a command or an agent: unsealed control requests are refused', async () => {
    const projects = await fleet.coordinator.json<Array<{ name: string; remote: string; default_branch?: string }>>(['project', 'list'], { env: fleet.cliEnv() });
    const p = projects[0];
    const marker = join(scratch, 'pwned-by-bus');
    const bus = await NatsBus.connect({ url: fleet.nats.url, user: 'orch', password: SECRETS.natsPassword, name: 'impostor' });
    try {
      // A well-formed bash job for node1 (as the coordinator would send one) and an ask.
      const job = { op: 'bash_job', job: 'pwn', run: new Date().toISOString(), project: p.name, remote: p.remote, baseBranch: p.default_branch || 'main', command: `touch ${marker}`, timeoutMs: 10_000 };
      const ask = { op: 'ask', id: 'x', purpose: 'review', agent: 'busy', prompt: `touch ${marker}`, timeoutMs: 10_000 };
      for (const req of [job, ask]) {
        const err = await bus.request(subjects.control('node1'), Buffer.from(JSON.stringify(req)), { timeoutMs: 20_000 }).then(() => undefined, (e: Error) => e);
        expect(err?.message, `${req.op} was served`).toMatch(/control request refused: not sealed by the coordinator/);
      }
    } finally {
      await bus.close();
    }
    expect(existsSync(marker)).toBe(false);

    // The coordinator's own (sealed) control requests still work: a running task is killed on node1.
    const t = await addTask('Killed through the sealed control channel', 'never');
    await waitFor(async () => { const x = await task(t.id); return x.status === 'in_progress' && x.node === 'node1'; }, { timeoutMs: 30_000, what: 'the task to run on node1' });
    const k = await cli(['task', 'kill', String(t.id)]);
    expect(k.code, k.stderr).toBe(0);
    await waitFor(async () => !['in_progress', 'routed', 'new'].includes((await task(t.id)).status), { timeoutMs: 30_000, what: 'the task to stop' });
    expect(fleet.coordinator.logOf('serve')).not.toMatch(/kill did not reach the node/);
    // Only the two forged requests were refused (one line each), not the coordinator's kill.
    expect(fleet.nodes[0].home.logOf('node').match(/control request refused.*not sealed by the coordinator/g)).toHaveLength(2);
  }, 120_000);

  it('orch node revoke: the node\'s certificate is refused, its running attempt runs again elsewhere, its name may enrol anew', async () => {
    const node2 = await fleet.addNode('node2');
    // The next task goes to node1: node2 takes no work until node1 holds it.
    expect((await cli(['node', 'drain', 'node2'])).code).toBe(0);
    const t = await addTask('Outlives its node\'s revocation', 'held');
    await waitFor(async () => { const x = await task(t.id); return x.status === 'in_progress' && x.node === 'node1'; }, { timeoutMs: 30_000, what: 'the task to run on node1' });
    expect((await cli(['node', 'resume', 'node2'])).code).toBe(0);
    const r = await cli(['node', 'revoke', 'node1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'node1', running: 1 });
    // Handed back as a vanished node's: the next attempt runs on node2; then the agent may finish.
    await waitFor(async () => { const x = await task(t.id); return x.attempts === 2 && x.status === 'in_progress' && x.node === 'node2'; }, { timeoutMs: 60_000, intervalMs: 500, what: 'the task to run again on node2' });
    writeFileSync(`${gate}-held`, '');
    const done = await waitFor(async () => { const x = await task(t.id); return x.status === 'done' ? x : undefined; }, { timeoutMs: 90_000, intervalMs: 500, what: 'the task to finish on node2' });
    expect(done.node).toBe('node2');
    expect(done.attempts).toBe(2);
    const nodes = await fleet.coordinator.json<Array<{ name: string; state: string }>>(['node', 'list'], { env: fleet.cliEnv() });
    expect(nodes.find((x) => x.name === 'node1')?.state).toBe('lost');
    await waitFor(() => /refuses this node/.test(fleet.nodes[0].home.logOf('node')), { timeoutMs: 20_000, what: 'node1 to learn it is refused' });
    // node1's calls are refused from now on.
    const err = await refusal(call(new NodeGatewayClient(fleet.address, channelCredentials({ ca, key: readFileSync(join(fleet.nodes[0].home.home, 'tls', 'node.key'), 'utf8'), cert: readFileSync(join(fleet.nodes[0].home.home, 'tls', 'node.crt'), 'utf8') }), channelOptions({ ca })),
      'heartbeat', NodeInfo.fromPartial({ name: 'node1', slots: 1 }), tokenMetadata(parseJoinToken(fleet.joinToken)!.secret)));
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toMatch(/revoked/);
    // The name is free again: a new key may enrol as node1.
    const fresh = await newKeyPair();
    const anon = new NodeGatewayClient(fleet.address, channelCredentials({ ca }), channelOptions({ ca }));
    const again = await call<{ certPem: string }>(anon, 'enroll', { name: 'node1', csrPem: await makeCsr('node1', fresh) }, tokenMetadata(parseJoinToken(fleet.joinToken)!.secret));
    anon.close();
    expect(commonName(again.certPem)).toBe('node1');
    expect(node2.name).toBe('node2');
  }, 180_000);
});
