// Fleet over a real (virtual) network: each agent-node runs in its own network
// namespace with its own address, the CLI in a third one with an empty ORCH_HOME;
// coordinator and nats-server listen on the host's bridge address. Nothing is shared
// between them but NATS, gRPC and the git remote.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, instantAgent } from '../harness/fleet.js';
import { natsServerAvailable } from '../harness/nats-server.js';
import { createNetwork, netnsUnavailable, type TestNetwork } from '../harness/netns.js';
import { makeRepo } from '../harness/orch.js';
import { waitFor } from '../harness/wait.js';

const why = netnsUnavailable() ?? (natsServerAvailable() ? undefined : 'nats-server is not installed');
if (why) console.warn(`\n*** SKIPPING multi-host fleet test: ${why} ***\n`);

interface TaskJson { id: number; status: string; node: string }
interface NodeJson { name: string; address: string; state: string }

describe.skipIf(!!why)('fleet across network namespaces', () => {
  let network: TestNetwork;
  let fleet: Fleet;
  let scratch: string;
  let cliHome: string;

  beforeAll(async () => {
    network = createNetwork(3);
    scratch = mkdtempSync(join(tmpdir(), 'orch-netns-'));
    cliHome = mkdtempSync(join(tmpdir(), 'orch-netns-cli-'));
    const agent = instantAgent(scratch, join(scratch, 'runs.txt'), 0.2);
    fleet = new Fleet({ nodes: 2, slots: 2, network, agentsYaml: `agents:\n  instant:\n    kind: command\n    command: ${agent}\n` });
    await fleet.start();
    const repo = await makeRepo(scratch);
    const add = await fleet.coordinator.run(['project', 'add', `file://${repo.origin}`], { env: fleet.cliEnv() });
    expect(add.code, add.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop(!!process.env.ORCH_KEEP_TEST_DIRS);
    network?.destroy();
    rmSync(scratch, { recursive: true, force: true });
    rmSync(cliHome, { recursive: true, force: true });
  });

  // The CLI as on a third machine: its own namespace, an empty ORCH_HOME, only --coordinator and the token.
  const remote = <T>(args: string[]) => fleet.coordinator.json<T>(['--coordinator', fleet.address, ...args], {
    env: { ...fleet.cliEnv(), ORCH_HOME: cliHome }, wrap: network.exec(2),
  });

  it('nodes on their own addresses run the work a CLI on a third host hands in', async () => {
    expect(fleet.address.startsWith(`${network.hostIp}:`)).toBe(true);
    const nodes = await remote<NodeJson[]>(['node', 'list']);
    // The coordinator saw each node connect from its own namespace's address.
    expect(nodes.map((n) => [n.name, n.address, n.state]).sort()).toEqual([
      ['node1', network.hosts[0].ip, 'up'],
      ['node2', network.hosts[1].ip, 'up'],
    ]);
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) ids.push((await remote<TaskJson>(['task', 'add', `Remote ${i}`, '--agent', 'instant'])).id);
    await waitFor(async () => (await remote<TaskJson[]>(['task', 'list'])).filter((t) => ids.includes(t.id)).every((t) => t.status === 'done'),
      { timeoutMs: 90_000, intervalMs: 500, what: 'the remote tasks to finish' });
    const done = await Promise.all(ids.map((id) => remote<TaskJson>(['task', 'get', String(id)])));
    expect(new Set(done.map((t) => t.node))).toEqual(new Set(['node1', 'node2']));
  }, 150_000);
});
