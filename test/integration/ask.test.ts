// One-shot agent calls ("asks": router decisions, reviews, chat) from the coordinator to a
// node over a real nats-server: the node runs the agent CLI once through its adapter, with
// the minimal environment, and replies with the final text. Real coordinator, node, bus, PG.
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentNode } from '../../agent-node/node.js';
import { Tmux } from '../../agent-node/tmux.js';
import { AskError } from '../../coordinator/ask.js';
import { Coordinator } from '../../coordinator/coordinator.js';
import { startGrpcServer, type GrpcServer } from '../../coordinator/grpc/server.js';
import { openDatabase, type Database } from '../../coordinator/store/database.js';
import { Store } from '../../coordinator/store/store.js';
import { NatsBus } from '../../runtime/bus/nats.js';
import { defaultConfig, mergeConfig } from '../../runtime/config/index.js';
import { OrchPaths } from '../../runtime/paths.js';
import { natsServerAvailable, startNatsServer, type NatsServer } from '../harness/nats-server.js';
import { startTestDatabase, type TestDatabase } from '../harness/postgres.js';
import { waitFor } from '../harness/wait.js';

const natsOk = natsServerAvailable();
if (!natsOk) console.warn('\n*** SKIPPING ask tests: nats-server is not installed ***\n');

const dir = mkdtempSync(join(tmpdir(), 'orch-ask-'));
const socket = `orch-test-ask-${process.pid}`;
let nats: NatsServer;
let tdb: TestDatabase;
let db: Database;
let coordBus: NatsBus;
let nodeBus: NatsBus;
let c: Coordinator;
let server: GrpcServer;
let node: AgentNode;

// An agent that answers with what it saw: its prompt (stdin), its system prompt, its environment.
const echoAgent = join(dir, 'echo-agent.sh');
writeFileSync(echoAgent, [
  '#!/bin/bash',
  'prompt=$(cat)',
  'if [ "$prompt" = "sleep" ]; then sleep 30; fi',
  'if [ "$prompt" = "fail" ]; then echo "Error: 429 rate limit exceeded, retry later" >&2; exit 1; fi',
  'echo "PROMPT=$prompt"',
  'echo "SYSTEM=$(cat "$ORCH_SYSTEM_PROMPT_FILE")"',
  'echo "PURPOSE=$ORCH_ASK MODEL=$ORCH_MODEL OWN=${OWN_KEY:-none} OWN_LEN=${#OWN_KEY} NODE_SECRET=${ASK_TEST_NODE_SECRET:-none} CWD=$PWD"',
].join('\n') + '\n');
chmodSync(echoAgent, 0o755);

beforeAll(async () => {
  if (!natsOk) return;
  nats = await startNatsServer({ jetstream: true });
  tdb = await startTestDatabase();
  db = await openDatabase({ url: tdb.url, dataDir: join(dir, 'pg') });
  coordBus = await NatsBus.connect({ url: nats.url, name: 'ask-coord' });
  nodeBus = await NatsBus.connect({ url: nats.url, name: 'ask-node' });
  const config = mergeConfig(defaultConfig(), {
    agents: { echo: { kind: 'command', command: echoAgent, env: { OWN_KEY: 'own-key-value-1' } } },
    tmux: { socket },
  });
  c = new Coordinator({ paths: new OrchPaths(join(dir, 'coord')), config, db, store: new Store(db.pool), bus: coordBus, nodeTtlMs: 5_000 });
  await c.start();
  server = await startGrpcServer(c, '127.0.0.1:0', { version: 'test', mode: 'embedded', token: undefined });
  // A secret of the node's own environment: no agent may see it.
  process.env.ASK_TEST_NODE_SECRET = 'node-secret-value-2';
  node = await AgentNode.start({ home: join(dir, 'node'), name: 'n1', slots: 1, config, coordinator: server.address, bus: nodeBus, heartbeatMs: 200, nodeTtlMs: 5_000 });
  await waitFor(() => c.registry.snapshots().find((n) => n.name === 'n1' && n.state === 'up'), { timeoutMs: 20_000, what: 'the node to register' });
}, 120_000);

afterAll(async () => {
  delete process.env.ASK_TEST_NODE_SECRET;
  await node?.stop();
  await server?.stop();
  await c?.stop();
  await nodeBus?.close();
  await coordBus?.close();
  await db?.close();
  await tdb?.stop();
  await nats?.stop();
  await new Tmux(socket).killServer();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!natsOk)('asks: one-shot agent runs on a node', () => {
  it('runs the agent once with the prompt, system prompt and its own env only, and returns its text', async () => {
    const r = await c.asker.ask({ purpose: 'route', agent: 'echo', model: 'm-small', system: 'you route tasks', prompt: 'which agent?', timeoutMs: 20_000 });
    expect(r.node).toBe('n1');
    expect(r.text).toContain('PROMPT=which agent?');
    expect(r.text).toContain('SYSTEM=you route tasks');
    // The agent had its own key (15 chars); the node's secret it never saw; its key never leaves the node.
    expect(r.text).toContain('PURPOSE=route MODEL=m-small OWN=[REDACTED] OWN_LEN=15 NODE_SECRET=none');
    expect(r.text).not.toContain('own-key-value-1');
    // It ran in a scratch directory under the node's ORCH_HOME, which is gone afterwards.
    const cwd = /CWD=(\S+)/.exec(r.text)![1];
    expect(cwd.startsWith(join(dir, 'node', 'run', 'ask'))).toBe(true);
    expect(existsSync(cwd)).toBe(false);
    // No task slot was taken and no tmux session made.
    expect(node.running).toBe(0);
  }, 60_000);

  it('an agent no node has is refused with NoNode', async () => {
    const err = await c.asker.ask({ purpose: 'route', agent: 'nobody', prompt: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AskError);
    expect((err as AskError).errorClass).toBe('NoNode');
  });

  it("a failing agent's error is classed; one past its time is stopped and classed Timeout", async () => {
    const failed = await c.asker.ask({ purpose: 'review', agent: 'echo', prompt: 'fail', timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect((failed as AskError).errorClass).toBe('RateLimit');
    const t0 = Date.now();
    const slow = await c.asker.ask({ purpose: 'chat', agent: 'echo', prompt: 'sleep', timeoutMs: 1_500 }).catch((e: unknown) => e);
    expect((slow as AskError).errorClass).toBe('Timeout');
    expect(Date.now() - t0).toBeLessThan(15_000);
    await waitFor(() => !existsSync(join(dir, 'node', 'run', 'ask')) || readdirSync(join(dir, 'node', 'run', 'ask')).length === 0, { timeoutMs: 10_000, what: 'scratch dirs to be removed' });
  }, 60_000);
});
