// `orch node deploy`'s decisions without a network: host-key trust (against keys and
// known_hosts lines made by the real ssh-keygen), the host check, the node config, the service.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprint, keyTypeOf, knownHostsLine, knownHostsName, verifyHostKey, type HostKey } from '../../cli/deploy/known-hosts.js';
import { hostProblems, parseProbe } from '../../cli/deploy/host-check.js';
import { nodeConfigYaml } from '../../cli/deploy/node-config.js';
import { parseDocument } from 'yaml';
import { ORCH_BIN } from '../harness/orch.js';
import { chooseService, renderUnit } from '../../cli/deploy/service.js';

const dir = mkdtempSync(join(tmpdir(), 'orch-kh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function key(name: string): HostKey & { pubLine: string; fp: string } {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
  const pubLine = readFileSync(`${f}.pub`, 'utf8').trim();
  const [type, b64] = pubLine.split(' ');
  return { type, blob: Buffer.from(b64, 'base64'), pubLine, fp: execFileSync('ssh-keygen', ['-lf', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1] };
}

const a = key('a');
const b = key('b');
const entry = (hosts: string, k: typeof a) => `${hosts} ${k.type} ${k.blob.toString('base64')}`;

describe('known_hosts verdicts', () => {
  const name = knownHostsName('10.1.2.3', 2222);
  const cases: Array<[string, string, ReturnType<typeof verifyHostKey>['kind']]> = [
    ['empty file', '', 'unknown'],
    ['same key, [host]:port', entry('[10.1.2.3]:2222', a), 'known'],
    ['same key among several patterns', entry('other,[10.1.2.3]:2222', a), 'known'],
    ['port 22 entry does not cover another port', entry('10.1.2.3', a), 'unknown'],
    ['another key of the same type', entry('[10.1.2.3]:2222', b), 'changed'],
    ['wildcard pattern', entry('[10.1.2.*]:2222', a), 'known'],
    ['negated pattern wins', entry('[10.1.2.*]:2222,![10.1.2.3]:2222', a), 'unknown'],
    ['revoked key', `@revoked ${entry('*', a)}\n${entry('[10.1.2.3]:2222', a)}`, 'changed'],
    ['comments and blank lines skipped', `# note\n\n${entry('[10.1.2.3]:2222', a)}`, 'known'],
  ];
  it.each(cases)('%s', (_what, text, kind) => {
    expect(verifyHostKey(text, name, a).kind).toBe(kind);
  });

  it('names the line of a changed key', () => {
    expect(verifyHostKey(`# x\n${entry('[10.1.2.3]:2222', b)}`, name, a)).toEqual({ kind: 'changed', line: 2 });
  });

  it('reads what ssh-keygen -H hashes, and writes what it reads back', () => {
    const f = join(dir, 'kh');
    writeFileSync(f, entry('[10.1.2.3]:2222', a) + '\n');
    execFileSync('ssh-keygen', ['-H', '-f', f], { stdio: 'ignore' });
    const hashed = readFileSync(f, 'utf8');
    expect(hashed).toMatch(/^\|1\|/);
    expect(verifyHostKey(hashed, name, a).kind).toBe('known');
    expect(verifyHostKey(hashed, name, b).kind).toBe('changed');
    const ours = knownHostsLine(name, a);
    expect(verifyHostKey(ours, name, a).kind).toBe('known');
    expect(verifyHostKey(ours, knownHostsName('10.1.2.4', 2222), a).kind).toBe('unknown');
    // ssh-keygen -F finds our hashed line for the same name.
    writeFileSync(f, ours);
    expect(execFileSync('ssh-keygen', ['-F', name, '-f', f], { encoding: 'utf8' })).toContain(a.type);
  });

  it('fingerprints and key types as OpenSSH shows them', () => {
    expect(fingerprint(a.blob)).toBe(a.fp);
    expect(keyTypeOf(a.blob)).toBe('ssh-ed25519');
  });
});

describe('host check', () => {
  const fit = 'os=Linux 6.1 x86_64\nuser=orch\nhome=/home/orch\nnode=/usr/bin/node\nnode_version=v20.11.0\ngit_version=git version 2.39\ntmux_version=tmux 3.3a\ntar=/usr/bin/tar\nsystemd=yes\nagent_claude=/usr/bin/claude\n';
  it('a fit host has no problems and its agents are listed', () => {
    const f = parseProbe(fit);
    expect(hostProblems(f)).toEqual([]);
    expect(f.agents).toEqual({ claude: '/usr/bin/claude' });
    expect(f.systemd).toBe(true);
  });
  it.each([
    ['old node', fit.replace('v20.11.0', 'v18.19.0'), /too old: orch needs Node >= 20/],
    ['no node', fit.replace('node=/usr/bin/node', 'node='), /Node.js is not on the PATH/],
    ['no tmux', fit.replace('tmux_version=tmux 3.3a', 'tmux_version='), /tmux is missing/],
    ['no git', fit.replace('git_version=git version 2.39', 'git_version='), /git is missing/],
  ])('%s is named with what to do', (_w, probe, re) => {
    expect(hostProblems(parseProbe(probe)).join('\n')).toMatch(re);
  });
});

describe('node config', () => {
  it('keeps what the host had, adds the extra file, and sets what deploy owns', () => {
    const y = nodeConfigYaml('node:\n  labels: [gpu]\n  name: old\ncluster:\n  token: old-token\n',
      { file: 'extra.yml', text: 'tmux:\n  socket: s1\ncluster:\n  heartbeat_seconds: 1\n' },
      { name: 'n1', slots: 3, coordinator: '10.0.0.1:7400', natsUrl: 'nats://10.0.0.1:4222', token: 'tok-new' });
    expect(parseDocument(y).toJS()).toEqual({
      node: { labels: ['gpu'], name: 'n1', coordinator: '10.0.0.1:7400', slots: 3 },
      cluster: { token: 'tok-new', heartbeat_seconds: 1 },
      tmux: { socket: 's1' },
      nats: { url: 'nats://10.0.0.1:4222' },
    });
  });
  it('a broken extra file is refused naming it', () => {
    expect(() => nodeConfigYaml('', { file: 'extra.yml', text: 'a: [1' }, { name: 'n', coordinator: 'c:1', natsUrl: 'nats://c:2', token: 't' })).toThrow(/extra\.yml/);
  });
});

describe('node service', () => {
  const p = { name: 'build-1', user: 'orch', orchHome: '/var/lib/orch-node', node: '/usr/bin/node', orchJs: '/var/lib/orch-node/lib/current/bin/orch.js' };
  const tpl = readFileSync(join(import.meta.dirname, '../../deploy/systemd/orch-node.service'), 'utf8');
  it.each([
    ['root with systemd: a system unit', 'root', true, 'systemd', '/etc/systemd/system/orch-node-build-1.service'],
    ['another user with systemd: a user unit', 'orch', true, 'systemd-user', '$HOME/.config/systemd/user/orch-node-build-1.service'],
    ['no systemd: the supervisor', 'root', false, 'supervised', '/var/lib/orch-node/bin/orch-node-supervise'],
  ] as const)('%s', (_w, user, systemd, kind, file) => {
    expect(chooseService({ ...p, user }, systemd)).toMatchObject({ kind, file });
  });
  it('systemd accepts the units deploy writes (systemd-analyze verify)', () => {
    if (spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status !== 0) {
      if (process.env.CI === 'true') throw new Error('systemd-analyze is missing; under CI=true this is a failure');
      return;
    }
    for (const [kind, user] of [['systemd', 'root'], ['systemd-user', 'root']] as const) {
      const file = join(dir, `orch-node-build-1-${kind}.service`);
      writeFileSync(file, renderUnit(tpl, { ...p, user, node: process.execPath, orchJs: ORCH_BIN }, kind));
      const v = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      expect(v.status, v.stderr).toBe(0);
      expect(v.stderr.split('\n').filter((l) => l.includes(file)), 'systemd complains about the unit').toEqual([]);
    }
  });

  it('fills every placeholder; a user unit has no User= and is wanted by default.target', () => {
    const sys = renderUnit(tpl, { ...p, user: 'root' }, 'systemd');
    expect(sys).not.toMatch(/@[A-Z_]+@/);
    expect(sys).toContain('ExecStart=/usr/bin/node /var/lib/orch-node/lib/current/bin/orch.js node start');
    expect(sys).toContain('User=root');
    expect(sys).toContain('WantedBy=multi-user.target');
    const user = renderUnit(tpl, p, 'systemd-user');
    expect(user).not.toMatch(/^User=/m);
    expect(user).toContain('WantedBy=default.target');
    expect(user).toContain('Environment=ORCH_HOME=/var/lib/orch-node');
  });
});
