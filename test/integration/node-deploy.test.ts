// `orch node deploy` end to end: two network namespaces stand for two hosts, each with
// a real sshd (its own port, config, host key and authorized_keys); a fleet-mode
// coordinator (real nats-server, PostgreSQL) listens on the bridge. The real CLI sets up
// both hosts over SSH from an offline bundle (the namespaces have no registry), both
// nodes register and run tasks, and `orch node remove` undoes one. Host keys: unknown
// is refused without --accept-new-host-key, changed is always refused. The cluster
// token is watched for in every process's argv during the deploys and in all output.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, instantAgent } from '../harness/fleet.js';
import { freePort, natsServerAvailable } from '../harness/nats-server.js';
import { createNetwork, netnsUnavailable, type TestNetwork } from '../harness/netns.js';
import { makeRepo, type CliResult } from '../harness/orch.js';
import { ensurePrivsepDir, keygen, sshdUnavailable, startSshd, type TestSshd } from '../harness/sshd.js';
import { waitFor } from '../harness/wait.js';

const why = netnsUnavailable() ?? sshdUnavailable() ?? (natsServerAvailable() ? undefined : 'nats-server is not installed');
if (why) console.warn(`\n*** SKIPPING node deploy test: ${why} ***\n`);

interface NodeJson { name: string; address: string; state: string; slots: number }
interface TaskJson { id: number; status: string; node: string }

/** Every process whose argv holds needle, seen by scanning /proc until stop() (all namespaces share our PID namespace). */
function watchArgv(needle: string): { stop(): Promise<string[]>; scans: () => number } {
  const hits = new Set<string>();
  let scans = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const pid of readdirSync('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (argv.includes(needle)) hits.add(`${pid}: ${argv.replace(/\0/g, ' ')}`);
        } catch { /* gone meanwhile */ }
      }
      scans++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return { stop: async () => { running = false; await loop; return [...hits]; }, scans: () => scans };
}

const pidAlive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe.skipIf(!!why)('orch node deploy over SSH to network-namespace hosts', () => {
  const token = `deploytok-${randomBytes(18).toString('hex')}`;
  let network: TestNetwork;
  let fleet: Fleet;
  let scratch: string;
  let clientKey: string;
  let madePrivsep = false;
  const sshds: TestSshd[] = [];
  const hosts: Array<{ name: string; home: string; tmux: string; nodeConfig: string }> = [];
  let tokenFile: string;
  let gateFile: string;
  const seconds: Record<string, number> = {};

  beforeAll(async () => {
    network = createNetwork(2);
    scratch = mkdtempSync(join(tmpdir(), 'orch-deploy-'));
    gateFile = join(scratch, 'gate-open');
    madePrivsep = ensurePrivsepDir();
    const agent = instantAgent(scratch, join(scratch, 'runs.txt'), 0.2);
    // A second agent that works until the test opens its gate: a run in progress while its node is removed.
    const gated = instantAgent(scratch, join(scratch, 'runs.txt'), { file: 'gated-agent.sh', gateFile });
    const agentsYaml = `agents:\n  instant:\n    kind: command\n    command: ${agent}\n  gated:\n    kind: command\n    command: ${gated}\n`;
    fleet = new Fleet({ nodes: 0, slots: 2, network, token, agentsYaml });
    await fleet.start();
    const repo = await makeRepo(scratch);
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    expect(add.code, add.stderr).toBe(0);

    clientKey = keygen(join(scratch, 'client_key'), 'orch-deployer').priv;
    writeFileSync(join(scratch, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
    tokenFile = join(scratch, 'token');
    // What a user deploys with: the join token `orch cluster token` printed (it holds the secret),
    // by which the node verifies the coordinator's TLS and enrols.
    writeFileSync(tokenFile, fleet.joinToken + '\n', { mode: 0o600 });
    for (let i = 0; i < 2; i++) {
      sshds.push(await startSshd({ dir: join(scratch, `sshd${i}`), listen: network.hosts[i].ip, port: await freePort(), authorizedKeys: join(scratch, 'authorized_keys'), wrap: network.exec(i) }));
      const name = ['alpha', 'beta'][i];
      const tmux = `orch-deploy-${process.pid}-${name}`;
      const nodeConfig = join(scratch, `${name}-extra.yml`);
      // What an operator adds for their agents; here the fleet tests' fake agent, a private tmux socket and fast heartbeats.
      writeFileSync(nodeConfig, `${agentsYaml}tmux:\n  socket: ${tmux}\ncluster:\n  heartbeat_seconds: 0.5\n  node_timeout_seconds: 3\n`);
      hosts.push({ name, home: join(scratch, `${name}-home`), tmux, nodeConfig });
    }
  }, 240_000);

  afterAll(async () => {
    // Node supervisors by the PID in their pid files (SIGTERM reaches the node through them), then their tmux servers.
    for (const h of hosts) {
      const pidFile = join(h.home, 'node.pid');
      if (!existsSync(pidFile)) continue;
      const pid = Number(readFileSync(pidFile, 'utf8'));
      if (pid > 0 && pidAlive(pid)) {
        process.kill(pid, 'SIGTERM');
        await waitFor(() => !pidAlive(pid), { timeoutMs: 30_000, what: `node supervisor ${pid} to exit` }).catch(() => process.kill(pid, 'SIGKILL'));
      }
    }
    for (const h of hosts) await new Promise<void>((r) => execFile('tmux', ['-L', h.tmux, 'kill-server'], () => r()));
    for (const s of sshds) await s.stop();
    await fleet?.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
    network?.destroy();
    if (madePrivsep) rmSync('/run/sshd', { recursive: true, force: true });
    if (!process.env.ORCH_KEEP_TEST_DIRS) rmSync(scratch, { recursive: true, force: true });
  }, 120_000);

  const deploy = (i: number, knownHosts: string, extra: string[] = []): Promise<CliResult> => fleet.coordinator.run([
    'node', 'deploy', `root@${sshds[i].address}`, '--port', String(sshds[i].port), '--identity', clientKey, '--known-hosts', knownHosts,
    '--name', hosts[i].name, '--slots', '2', '--orch-home', hosts[i].home, '--node-config', hosts[i].nodeConfig,
    '--coordinator', fleet.address, ...extra,
  ], { env: { ORCH_TOKEN_FILE: tokenFile, ORCH_DEBUG: '1' }, timeoutMs: 240_000 });

  const nodes = () => fleet.coordinator.json<NodeJson[]>(['node', 'list'], { env: fleet.cliEnv() });

  it('refuses a host whose key is unknown unless --accept-new-host-key, and touches nothing there', async () => {
    const kh = join(scratch, 'known_hosts_unknown');
    const r = await deploy(0, kh);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`the host key of [${sshds[0].address}]:${sshds[0].port} is not known`);
    expect(r.stderr).toContain(sshds[0].hostKey.fingerprint);
    expect(r.stderr).toContain('--accept-new-host-key');
    expect(existsSync(kh)).toBe(false);
    expect(existsSync(hosts[0].home)).toBe(false);
    expect(r.stdout + r.stderr).not.toContain(token);
  }, 60_000);

  it('refuses a host whose key changed, even with --accept-new-host-key', async () => {
    // known_hosts remembers another key for this very [host]:port: what a reinstalled host or an interceptor shows.
    const other = keygen(join(scratch, 'other_host_key'), 'old-host');
    const kh = join(scratch, 'known_hosts_changed');
    const line = `[${sshds[0].address}]:${sshds[0].port} ${other.pub.split(' ').slice(0, 2).join(' ')}\n`;
    writeFileSync(kh, line);
    const r = await deploy(0, kh, ['--accept-new-host-key']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('has CHANGED');
    expect(r.stderr).toContain(sshds[0].hostKey.fingerprint);
    expect(r.stderr).toContain(`${kh} line 1`);
    expect(readFileSync(kh, 'utf8')).toBe(line);
    expect(existsSync(hosts[0].home)).toBe(false);
  }, 60_000);

  it('sets up two hosts over SSH; both register and run tasks; the token is in no argv and no output', async () => {
    const kh = join(scratch, 'known_hosts');
    const watch = watchArgv(token);
    const results: CliResult[] = [];
    for (let i = 0; i < 2; i++) {
      const t = Date.now();
      results.push(await deploy(i, kh, ['--accept-new-host-key']));
      seconds[hosts[i].name] = (Date.now() - t) / 1000;
      expect(results[i].code, results[i].stderr).toBe(0);
    }
    const seen = await watch.stop();
    for (const r of results) console.log(r.stderr);
    console.log(`deploy wall times (s): ${JSON.stringify(seconds)}; argv scans during them: ${watch.scans()}`);
    expect(watch.scans()).toBeGreaterThan(20);
    expect(seen).toEqual([]);

    for (let i = 0; i < 2; i++) {
      const out = results[i].stdout + results[i].stderr;
      expect(out).not.toContain(token);
      // Each step reported; the host's facts; no systemd in a namespace, and it says what runs the node instead.
      for (const step of ['[1/6] connecting', '[2/6] checking the host', '[3/6] installing orch', '[4/6] writing', '[5/6] starting the node', '[6/6] waiting for']) expect(out).toContain(step);
      expect(out).toMatch(/node: +v\d+\./);
      expect(out).toMatch(/tmux: +tmux \d/);
      expect(out).toContain('no systemd on this host');
      expect(out).toContain(`trusted (--accept-new-host-key) and recorded in ${kh}`);
      expect(results[i].stdout).toContain(`node ${hosts[i].name} deployed on root@${sshds[i].address}`);
      // The config holds the token (it was delivered) and only its owner can read it.
      const cfg = join(hosts[i].home, 'config.yml');
      expect(statSync(cfg).mode & 0o777).toBe(0o600);
      expect(readFileSync(cfg, 'utf8')).toContain(token);
      expect(readFileSync(join(hosts[i].home, 'node.log'), 'utf8')).not.toContain(token);
      expect(sshds[i].log()).not.toContain(token);
    }
    // The second deploy reused the bundle the first one built.
    expect(results[0].stderr).toContain('(built now)');
    expect(results[1].stderr).toContain('(cached)');
    // Both host keys are now known (hashed entries).
    expect(readFileSync(kh, 'utf8').trim().split('\n')).toHaveLength(2);

    const up = await nodes();
    expect(up.map((n) => [n.name, n.address, n.state, n.slots]).sort()).toEqual([
      ['alpha', network.hosts[0].ip, 'up', 2],
      ['beta', network.hosts[1].ip, 'up', 2],
    ]);

    const ids: number[] = [];
    for (let i = 0; i < 8; i++) ids.push((await fleet.coordinator.json<TaskJson>(['task', 'add', `Deployed ${i}`, '--agent', 'instant'], { env: fleet.cliEnv() })).id);
    await waitFor(async () => (await fleet.coordinator.json<TaskJson[]>(['task', 'list'], { env: fleet.cliEnv() })).filter((t) => ids.includes(t.id)).every((t) => t.status === 'done'),
      { timeoutMs: 120_000, intervalMs: 500, what: 'the tasks to finish on the deployed nodes' });
    const done = await Promise.all(ids.map((id) => fleet.coordinator.json<TaskJson>(['task', 'get', String(id)], { env: fleet.cliEnv() })));
    expect(new Set(done.map((t) => t.node))).toEqual(new Set(['alpha', 'beta']));
  }, 400_000);

  it('deploying the same build again changes nothing but restarts the node', async () => {
    const before = Number(readFileSync(join(hosts[0].home, 'node.pid'), 'utf8'));
    const t = Date.now();
    const r = await deploy(0, join(scratch, 'known_hosts'));
    seconds.redeploy = (Date.now() - t) / 1000;
    console.log(`redeploy wall time (s): ${seconds.redeploy}`);
    console.log(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('is installed already');
    expect(r.stderr).toContain('matches');
    expect(pidAlive(before)).toBe(false);
    const after = Number(readFileSync(join(hosts[0].home, 'node.pid'), 'utf8'));
    expect(after).not.toBe(before);
    expect(pidAlive(after)).toBe(true);
    expect((await nodes()).find((n) => n.name === 'alpha')?.state).toBe('up');
  }, 240_000);

  it('orch node remove lets the running attempt finish, then stops the node, removes its files and forgets it', async () => {
    const task = await fleet.coordinator.json<TaskJson>(['task', 'add', 'Long one', '--agent', 'gated'], { env: fleet.cliEnv() });
    const get = (id: number) => fleet.coordinator.json<TaskJson & { attempts: number }>(['task', 'get', String(id)], { env: fleet.cliEnv() });
    const running = await waitFor(async () => { const t = await get(task.id); return t.status === 'in_progress' && t.node ? t : undefined; },
      { timeoutMs: 60_000, intervalMs: 300, what: 'the gated task to run' });
    const gone = hosts.find((x) => x.name === running.node)!;
    const stays = hosts.find((x) => x.name !== running.node)!;
    const pid = Number(readFileSync(join(gone.home, 'node.pid'), 'utf8'));
    expect(pidAlive(pid)).toBe(true);

    let finished = false;
    const removal = fleet.coordinator.run(['node', 'remove', gone.name, '--coordinator', fleet.address], { env: fleet.cliEnv(), timeoutMs: 120_000 })
      .finally(() => { finished = true; });
    await waitFor(async () => (await nodes()).find((n) => n.name === gone.name)?.state === 'draining', { timeoutMs: 30_000, what: `${gone.name} to be drained` });
    // Drained, not stopped: the attempt still runs there and the removal waits for it.
    expect(finished).toBe(false);
    expect(pidAlive(pid)).toBe(true);
    writeFileSync(gateFile, '');
    const r = await removal;
    console.log(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('waiting for 1 running attempt(s) to finish');
    expect(r.stderr).toContain(`${gone.name} removed`);
    // The attempt ended where it ran, once: the node was stopped only after it.
    const t = await get(task.id);
    expect([t.status, t.node, t.attempts]).toEqual(['done', gone.name, 1]);

    expect(pidAlive(pid)).toBe(false);
    for (const f of ['config.yml', 'lib', 'bin', 'node.pid']) expect(existsSync(join(gone.home, f)), f).toBe(false);
    expect((await nodes()).map((n) => n.name)).toEqual([stays.name]);
    const again = await fleet.coordinator.run(['node', 'remove', gone.name, '--coordinator', fleet.address], { env: fleet.cliEnv() });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`no node named ${gone.name}`);
    // The other node is untouched and still takes work.
    const after = await fleet.coordinator.json<TaskJson>(['task', 'add', 'After removal', '--agent', 'instant'], { env: fleet.cliEnv() });
    await waitFor(async () => (await get(after.id)).status === 'done', { timeoutMs: 60_000, intervalMs: 500, what: 'a task on the remaining node' });
    expect((await get(after.id)).node).toBe(stays.name);
  }, 180_000);
});
