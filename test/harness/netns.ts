// Several "hosts" on one machine: a bridge on the host and one network namespace per
// node, each with its own address, so nodes reach the coordinator and NATS over a real
// (virtual) network instead of loopback. Everything is named after this process and
// removed by destroy(); nothing else on the machine is touched.
import { execFileSync, spawnSync } from 'node:child_process';

export interface TestNetwork {
  /** The host's address on the bridge (coordinator and NATS listen here). */
  hostIp: string;
  hosts: Array<{ ns: string; ip: string }>;
  /** argv prefix that runs a command inside host i's namespace. */
  exec(i: number): string[];
  destroy(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why namespaces cannot be made here, or undefined when they can. Under CI=true that is a failure. */
export function netnsUnavailable(): string | undefined {
  let why: string | undefined;
  if (process.getuid?.() !== 0) why = 'network namespaces need root';
  else if (spawnSync('ip', ['-V'], { stdio: 'ignore' }).status !== 0) why = 'the ip command (iproute2) is missing';
  else {
    const probe = `orchp${process.pid % 100000}`;
    try {
      ip('netns', 'add', probe);
    } catch (err) {
      why = `cannot create a network namespace: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
    } finally {
      spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    }
  }
  if (why && process.env.CI === 'true') throw new Error(`${why}; under CI=true this is a failure, not a skip`);
  return why;
}

export function createNetwork(hosts: number): TestNetwork {
  const id = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
  const bridge = `obr${id}`;
  const made: Array<() => void> = [];
  const destroy = () => { for (const undo of made.splice(0).reverse()) { try { undo(); } catch { /* already gone */ } } };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    made.push(() => ip('link', 'del', bridge));
    ip('addr', 'add', `${net}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    const out: TestNetwork['hosts'] = [];
    for (let i = 0; i < hosts; i++) {
      const ns = `orch${id}n${i}`;
      const veth = `ov${id}${i}`;
      ip('netns', 'add', ns);
      made.push(() => ip('netns', 'del', ns));
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`);
      made.push(() => ip('link', 'del', veth));
      ip('link', 'set', `${veth}p`, 'netns', ns);
      ip('link', 'set', veth, 'master', bridge);
      ip('link', 'set', veth, 'up');
      ip('-n', ns, 'addr', 'add', `${net}.${i + 2}/24`, 'dev', `${veth}p`);
      ip('-n', ns, 'link', 'set', `${veth}p`, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      out.push({ ns, ip: `${net}.${i + 2}` });
    }
    return { hostIp: `${net}.1`, hosts: out, exec: (i) => ['ip', 'netns', 'exec', out[i].ns], destroy };
  } catch (err) {
    destroy();
    throw err;
  }
}
