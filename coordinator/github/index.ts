// All GitHub work starts and stops here: startGitHub(coordinator) resolves credentials,
// builds one client, keeps one ProjectSync (+ Outbox) per project whose config names
// gh.repo, serves POST /webhooks/github on the coordinator's HTTP server, polls every
// gh.poll_seconds, and follows task changes out to GitHub. Only the leader calls it.
import { logger } from '../../runtime/log.js';
import { registerSecret } from '../../runtime/redact.js';
import type { OrchConfig } from '../../runtime/config/index.js';
import type { HttpServer } from '../http/server.js';
import type { Store, TaskRow, ProjectRow } from '../store/store.js';
import type { TaskMsg } from '../task-actor.js';
import type { Asker } from '../ask.js';
import { resolveAuth, type GitHubAuth } from './auth.js';
import { BoardSync } from './board-sync.js';
import { createClient, describeError, withInstallation, type ClientOptions, type GitHubClient } from './client.js';
import { Outbox } from './outbox.js';
import { ProjectSync } from './project-sync.js';
import { GitHubRepo } from './repo-api.js';
import { SyncStore } from './sync-store.js';
import { webhookHandler } from './webhook.js';
import type pg from 'pg';

const log = logger('github');

/** The parts of the coordinator GitHub sync uses. */
export interface GitHubCoordinator {
  store: Store;
  pool: pg.Pool;
  config: OrchConfig;
  projectConfig(project: string): OrchConfig;
  ask(taskId: number, msg: TaskMsg): Promise<TaskRow>;
  route(taskId: number): void;
  onTaskChanged(l: (task: TaskRow) => void): () => void;
  http: HttpServer | undefined;
  asker?: Asker;
  fleetAgents?(): string[];
  reviewModel?(project: string, agent: string): string;
}

export interface GitHubHandle {
  stop(): Promise<void>;
  /** Does this project's finished work go to review as a PR? */
  opensPrs(project: string): boolean;
  /** The sync of a project (tests, `orch board sync`). */
  project(name: string): ProjectSync | undefined;
  /** Poll every project now (also what the timer does). */
  pollAll(): Promise<void>;
  client: GitHubClient;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Override client options (tests shrink waits). */
  client?: Partial<ClientOptions>;
  /** Skip the poll timer (tests drive pollAll). */
  manualPoll?: boolean;
}

export async function startGitHub(c: GitHubCoordinator, opts: StartOptions = {}): Promise<GitHubHandle | undefined> {
  const cfg = c.config;
  let auth: GitHubAuth;
  try {
    auth = await resolveAuth({ env: opts.env ?? process.env, config: cfg });
  } catch (err) {
    log.error('GitHub sync is off', { err });
    return undefined;
  }
  registerSecret(cfg.gh.webhook_secret);
  const clientOptions: ClientOptions = {
    apiUrl: cfg.gh.api_url, writeIntervalMs: cfg.gh.write_interval_ms,
    ...(cfg.gh.request_timeout_seconds ? { requestTimeoutMs: cfg.gh.request_timeout_seconds * 1000 } : {}), ...opts.client,
  };
  const firstRepo = (await c.store.listProjects()).map((p) => c.projectConfig(p.name).gh.repo).find(Boolean);
  if (firstRepo) {
    try {
      auth = await withInstallation(auth, firstRepo, clientOptions);
    } catch (err) {
      log.error('GitHub sync is off: the GitHub App is not installed on the repository (or gh.installation_id is wrong)', { repo: firstRepo, err: describeError(err) });
      return undefined;
    }
  }
  const client = createClient(auth, clientOptions);
  // Who we are, looked up beside the sync rather than before it: an unreachable GitHub must not
  // hold up the coordinator's start or `orch project add` (until it is known, orch's own
  // comments are recognised by their marker).
  const self = { login: '' };
  void (async () => {
    try {
      if (auth.source !== 'github_app') self.login = (await client.rest.users.getAuthenticated({ request: { retries: 0 } })).data.login;
      else self.login = (await client.rest.apps.getAuthenticated({ request: { retries: 0 } })).data?.slug + '[bot]';
      log.info('GitHub login', { login: self.login });
    } catch (err) {
      log.warn('could not read the GitHub login; comments by orch are recognised by their marker only', { err: describeError(err) });
    }
  })();
  log.info('GitHub sync on', { source: auth.source, api: cfg.gh.api_url });

  const syncStore = new SyncStore(c.pool);
  const syncs = new Map<string, ProjectSync>();
  const host = {
    store: c.store, sync: syncStore,
    config: (p: string) => c.projectConfig(p),
    ask: (id: number, msg: TaskMsg) => c.ask(id, msg),
    created: (t: TaskRow) => c.route(t.id),
    asker: c.asker, fleetAgents: c.fleetAgents, reviewModel: c.reviewModel,
  };
  const ensure = (p: ProjectRow): ProjectSync | undefined => {
    const pc = c.projectConfig(p.name);
    const name = pc.gh.repo;
    if (!name) return undefined;
    let s = syncs.get(p.name);
    if (!s || s.repo.fullName !== name) {
      const repo = new GitHubRepo(client, name);
      const board = pc.gh.project_id ? new BoardSync(client, pc.gh.project_id, repo, syncStore, { statusFieldId: pc.gh.project_status_field_id, statusMap: pc.gh.project_status_map }) : undefined;
      s = new ProjectSync(p, repo, host, new Outbox(p, repo, host, board), self);
      syncs.set(p.name, s);
      log.info('syncing project with GitHub', { project: p.name, repo: name, board: pc.gh.project_id ?? '' });
    }
    return s;
  };
  const refresh = async () => { for (const p of await c.store.listProjects()) ensure(p); };
  await refresh();

  const unlisten = c.onTaskChanged((t) => syncs.get(t.project)?.outbox.mark(t.id));
  const unroute = c.http?.route('POST', '/webhooks/github', webhookHandler(cfg.gh.webhook_secret, async (event, payload) => {
    const full = String(payload?.repository?.full_name ?? '').toLowerCase();
    const find = () => [...syncs.values()].find((x) => x.repo.fullName.toLowerCase() === full);
    if (!find()) await refresh(); // a project added since the last poll
    const s = find();
    if (!s) { log.info('webhook for a repository orch does not sync', { event, repo: full }); return false; }
    void s.webhook(event, payload).catch((err) => log.warn('webhook not applied; the next poll catches up', { event, err: describeError(err) }));
    return true;
  }));

  let polling: Promise<void> | undefined;
  const pollAll = async () => {
    await refresh();
    for (const s of syncs.values()) {
      try {
        await s.poll();
      } catch (err) {
        log.warn('GitHub poll failed; next poll retries', { project: s.project.name, err: describeError(err) });
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  if (!opts.manualPoll) {
    const tick = () => {
      polling ??= pollAll().finally(() => { polling = undefined; });
    };
    tick();
    timer = setInterval(tick, Math.max(1, cfg.gh.poll_seconds) * 1000);
    timer.unref();
  }

  return {
    client,
    opensPrs: (project) => !!c.projectConfig(project).gh.repo,
    project: (name) => syncs.get(name),
    pollAll,
    stop: async () => {
      if (timer) clearInterval(timer);
      unlisten();
      unroute?.();
      for (const s of syncs.values()) s.outbox.stop();
      // The write in flight ends before a new sync (a config reload) could make the same one;
      // but a GitHub that does not answer does not hold up a shutdown for long.
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([polling, ...[...syncs.values()].map((s) => s.outbox.idle())]),
        new Promise((r) => { wait = setTimeout(r, 5_000); }),
      ]);
      clearTimeout(wait);
    },
  };
}
