// A real Coordinator (embedded PostgreSQL, in-process bus, its HTTP server on loopback)
// syncing one project with the fake GitHub: the project is a real git checkout whose
// .orch.yml names gh.repo, and whose bare origin is the fake's view of the repository.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coordinator } from '../../coordinator/coordinator.js';
import { openDatabase, type Database } from '../../coordinator/store/database.js';
import { Store } from '../../coordinator/store/store.js';
import { LocalBus } from '../../runtime/bus/local.js';
import { defaultConfig, loadProjectConfig, mergeConfig } from '../../runtime/config/index.js';
import type { PartialConfig } from '../../runtime/config/load.js';
import { OrchPaths } from '../../runtime/paths.js';
import { waitFor } from './wait.js';
import { FakeGitHub } from '../fakes/github/server.js';
import { makeRepo } from './orch.js';
import { startTestDatabase, type TestDatabase } from './postgres.js';

export const REPO = 'acme/widgets';
export const SECRET = 'whsec-test-0123456789';

export interface SyncedCoordinator {
  fake: FakeGitHub;
  coordinator: Coordinator;
  store: Store;
  dir: string;
  repo: { work: string; origin: string };
  webhookUrl: string;
  project: string;
  /** Stop the coordinator and start a new one on the same store (a restart). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSyncedCoordinator(opts: { config?: PartialConfig; orchYml?: string; manualPoll?: boolean; webhooks?: boolean } = {}): Promise<SyncedCoordinator> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-gh-sync-'));
  const fake = await FakeGitHub.start();
  const tdb: TestDatabase = await startTestDatabase();
  const repo = await makeRepo(dir, 'widgets');
  fake.addRepo(REPO, { gitDir: repo.origin });
  const token = fake.token('orch-bot');
  fake.collaborator(REPO, 'orch-bot', 'write');
  writeFileSync(join(repo.work, '.orch.yml'), `gh:\n  repo: ${REPO}\n${opts.orchYml ?? ''}`);
  const db: Database = await openDatabase({ url: tdb.url, dataDir: join(dir, 'pg') });
  const bus = new LocalBus();
  const config = mergeConfig(defaultConfig(), mergeConfig({
    agents: { worker: { kind: 'command', command: '/bin/true' } },
    workflow: { retry_delay_seconds: 0 },
    gh: { api_url: fake.url, webhook_secret: SECRET, poll_seconds: 3600, write_interval_ms: 0 },
    http: { listen: '127.0.0.1:0' },
  } as PartialConfig, opts.config ?? {}));
  const store = new Store(db.pool);
  const project = 'acme/widgets';
  await store.addProject({ name: project, path: repo.work, remote: repo.origin, defaultBranch: 'main' });
  await loadProjectConfig(config, repo.work); // fail fast on a bad .orch.yml
  const make = () => new Coordinator({
    paths: new OrchPaths(join(dir, 'home')), config, db, store, bus, nodeTtlMs: 60_000,
    github: { env: { GH_TOKEN: token }, client: { msPerRetrySecond: 20 }, manualPoll: opts.manualPoll ?? true },
  });
  // The coordinator looks up its GitHub login beside the sync: a test counting requests starts after it.
  const logins = () => fake.requests.filter((r) => r.path === '/user').length;
  const started = async (c: Coordinator, before: number) => {
    await c.start();
    await waitFor(() => logins() > before, { what: 'the coordinator\'s GitHub login lookup' });
  };
  const coordinator = make();
  await started(coordinator, logins());
  const webhookUrl = `http://${coordinator.http!.address}/webhooks/github`;
  if (opts.webhooks !== false) fake.deliverWebhooksTo(webhookUrl, SECRET);
  const h: SyncedCoordinator = {
    fake, coordinator, store, dir, repo, webhookUrl, project,
    restart: async () => {
      await h.coordinator.stop();
      h.coordinator = make();
      await started(h.coordinator, logins());
      h.webhookUrl = `http://${h.coordinator.http!.address}/webhooks/github`;
      if (opts.webhooks !== false) fake.deliverWebhooksTo(h.webhookUrl, SECRET);
    },
    stop: async () => {
      await h.coordinator.stop();
      await fake.close();
      await bus.close();
      await db.close();
      await tdb.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
