// A node claims each attempt before its agent starts. When the claim cannot reach the
// coordinator, nothing of the attempt runs: the assignment goes back and runs once the
// coordinator answers again (before, an unconfirmed start was taken as accepted, and the
// attempt could run twice). Real coordinator, gRPC, node, tmux, git; in-process bus.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentNode } from '../../agent-node/node.js';
import { Tmux } from '../../agent-node/tmux.js';
import { Coordinator } from '../../coordinator/coordinator.js';
import { startGrpcServer, type GrpcServer } from '../../coordinator/grpc/server.js';
import { openDatabase } from '../../coordinator/store/database.js';
import { Store } from '../../coordinator/store/store.js';
import { LocalBus } from '../../runtime/bus/local.js';
import { defaultConfig, mergeConfig } from '../../runtime/config/index.js';
import { OrchPaths } from '../../runtime/paths.js';
import { instantAgent } from '../harness/fleet.js';
import { freePort } from '../harness/nats-server.js';
import { makeRepo } from '../harness/orch.js';
import { startTestDatabase } from '../harness/postgres.js';
import { waitFor } from '../harness/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'orch-claim-'));
const socket = `orch-test-claim-${process.pid}`;
afterAll(async () => {
  await new Tmux(socket).killServer();
  rmSync(dir, { recursive: true, force: true });
});

describe('claiming an attempt before its agent runs', () => {
  it('an unreachable coordinator means the agent never starts; the attempt runs once it answers again', async () => {
    const tdb = await startTestDatabase();
    const db = await openDatabase({ url: tdb.url, dataDir: join(dir, 'pg') });
    const bus = new LocalBus();
    const runsFile = join(dir, 'runs.txt');
    const agent = instantAgent(dir, runsFile);
    const config = mergeConfig(defaultConfig(), { agents: { x: { kind: 'command', command: agent } }, tmux: { socket }, workflow: { max_attempts: 3 } });
    const c = new Coordinator({ paths: new OrchPaths(join(dir, 'coord')), config, db, store: new Store(db.pool), bus, nodeTtlMs: 5_000 });
    let server: GrpcServer | undefined;
    let node: AgentNode | undefined;
    try {
      await c.start();
      // The gRPC server comes back on the same address below: a port from freePort (outside the
      // ephemeral range), not one the kernel picked, which any connection could take while it is down.
      const address = `127.0.0.1:${await freePort()}`;
      server = await startGrpcServer(c, address, { version: 'test', mode: 'embedded', token: undefined });
      node = await AgentNode.start({ home: join(dir, 'node'), name: 'n1', slots: 1, config, coordinator: address, bus, heartbeatMs: 200, nodeTtlMs: 5_000, claimTimeoutMs: 1_500 });
      const repo = await makeRepo(dir);
      await c.store.addProject({ name: 'local/demo', path: '', remote: repo.origin, defaultBranch: 'main' });

      await server.stop(); // the coordinator's gRPC goes away; the bus stays up
      const task = await c.store.createTask({ project: 'local/demo', title: 'claimed or not at all', body: '', labels: [], agent: 'x' });
      c.actor(task.id).tell({ op: 'route' });
      // The node gets the assignment, prepares the session and tries to claim it.
      const sessionDir = join(dir, 'node', 'state', 'local', 'demo', 'tasks', String(task.id), 'attempts', '1');
      await waitFor(() => existsSync(join(sessionDir, 'runner.sh')), { timeoutMs: 20_000, what: 'the node to prepare the attempt' });
      // Past the claim timeout: the node gave the assignment back. The agent never ran.
      await waitFor(async () => (await new Tmux(socket).listSessions()).length === 0 && node!.running === 0, { timeoutMs: 10_000, what: 'the unclaimed session to be dropped' });
      expect(existsSync(runsFile) ? readFileSync(runsFile, 'utf8') : '').toBe('');
      expect((await c.store.getAttempt(task.id, 1))?.state).toBe('assigned');

      server = await startGrpcServer(c, address, { version: 'test', mode: 'embedded', token: undefined });
      const done = await waitFor(async () => {
        const t = await c.store.getTask(task.id);
        return t?.status === 'done' ? t : undefined;
      }, { timeoutMs: 60_000, intervalMs: 200, what: 'the task to run once the coordinator is back' });
      expect(done.attempts).toBe(1);
      expect(readFileSync(runsFile, 'utf8').split('\n').filter((l) => / start /.test(l))).toHaveLength(1);
    } finally {
      await node?.stop();
      await server?.stop();
      await c.stop();
      await bus.close();
      await db.close();
      await tdb.stop();
    }
  }, 120_000);
});
