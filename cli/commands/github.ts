// `orch auth check` and `orch board list|link|sync|info`: GitHub from the CLI, with the
// same credentials and config the coordinator uses on this machine ($ORCH_HOME/config.yml,
// the project's .orch.yml, GH_TOKEN/GITHUB_TOKEN, gh auth token, or the GitHub App).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { Argv } from 'yargs';
import { resolveAuth } from '../../coordinator/github/auth.js';
import { boardInfo, listBoards } from '../../coordinator/github/board-sync.js';
import { createClient, describeError, type GitHubClient } from '../../coordinator/github/client.js';
import { loadGlobalConfig, loadProjectConfig, type OrchConfig } from '../../runtime/config/index.js';
import { orchHome } from '../../runtime/paths.js';
import { CliError, type GlobalArgs } from '../client.js';
import { printJson } from '../format.js';

type Args = GlobalArgs & Record<string, unknown>;

async function setup(dir = process.cwd()): Promise<{ config: OrchConfig; gh: GitHubClient; source: string }> {
  const { config: global } = await loadGlobalConfig(orchHome());
  const { config } = await loadProjectConfig(global, dir);
  let auth;
  try {
    auth = await resolveAuth({ env: process.env, config });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  return { config, gh: createClient(auth, { apiUrl: config.gh.api_url, rateLimitRetries: 1, maxResetWaitSeconds: 5 }), source: auth.source };
}

/** Set keys under `gh:` in the project's .orch.yml, keeping the rest of the file as written. */
function writeOrchYml(dir: string, values: Record<string, unknown>): string {
  const file = join(dir, '.orch.yml');
  const doc = parseDocument(existsSync(file) ? readFileSync(file, 'utf8') : '');
  if (!doc.contents) doc.contents = doc.createNode({}) as never;
  for (const [k, v] of Object.entries(values)) doc.setIn(['gh', k], v);
  writeFileSync(file, doc.toString());
  return file;
}

export function authCommands(y: Argv): Argv {
  return y
    .command('check', 'Show which GitHub credentials orch uses, the login, scopes and the rate limit left', () => undefined, async (argv: Args) => {
      const { config, gh, source } = await setup();
      const out: Record<string, unknown> = { source, api: config.gh.api_url };
      try {
        if (source === 'github_app') {
          const app = await gh.rest.apps.getAuthenticated();
          out.login = `${app.data?.slug}[bot]`;
          out.permissions = app.data?.permissions ?? {};
        } else {
          const me = await gh.rest.users.getAuthenticated();
          out.login = me.data.login;
          out.scopes = String(me.headers['x-oauth-scopes'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        }
        const rl = await gh.rest.rateLimit.get();
        out.rate_limit = { remaining: rl.data.rate.remaining, limit: rl.data.rate.limit, resets_at: new Date(rl.data.rate.reset * 1000).toISOString() };
      } catch (err) {
        throw new CliError(`GitHub refused the credentials from ${source}: ${describeError(err)}`);
      }
      if (argv.json) return printJson(out);
      const rl = out.rate_limit as { remaining: number; limit: number; resets_at: string };
      process.stdout.write([
        `source:      ${source}`,
        `login:       ${out.login}`,
        out.scopes ? `scopes:      ${(out.scopes as string[]).join(', ') || '(fine-grained token: no classic scopes)'}` : `permissions: ${Object.entries(out.permissions as object).map(([k, v]) => `${k}:${v}`).join(', ')}`,
        `rate limit:  ${rl.remaining}/${rl.limit} left, resets ${rl.resets_at}`,
      ].join('\n') + '\n');
    })
    .demandCommand(1, 'name an auth command: check');
}

export function boardCommands(y: Argv): Argv {
  return y
    .command('list', 'List the Projects V2 boards of the repository owner', () => undefined, async (argv: Args) => {
      const { config, gh } = await setup();
      if (!config.gh.repo) throw new CliError('no gh.repo in this directory\'s .orch.yml: run orch board from the project');
      const boards = await listBoards(gh, config.gh.repo.split('/')[0]);
      if (argv.json) return printJson(boards);
      process.stdout.write(boards.length ? boards.map((b) => `${b.id}  #${b.number}  ${b.title}`).join('\n') + '\n' : 'no boards\n');
    })
    .command('link <id>', 'Link this project to a board (writes gh.project_id to .orch.yml)', (a) => a.positional('id', { type: 'string', demandOption: true }), async (argv: Args) => {
      const { gh } = await setup();
      const info = await boardInfo(gh, String(argv.id));
      const file = writeOrchYml(process.cwd(), { project_id: info.id });
      process.stdout.write(`linked to "${info.title}" (${info.id}) in ${file}\n`);
    })
    .command('sync', 'Discover the board\'s Status field and options and write them to .orch.yml', () => undefined, async () => {
      const { config, gh } = await setup();
      if (!config.gh.project_id) throw new CliError('no gh.project_id: run orch board link ID first');
      const info = await boardInfo(gh, config.gh.project_id);
      if (!info.status) throw new CliError(`board "${info.title}" has no single-select field named Status`);
      const file = writeOrchYml(process.cwd(), { project_status_field_id: info.status.id });
      process.stdout.write(`Status field ${info.status.id} with options ${info.status.options.map((o) => o.name).join(', ')} (written to ${file})\n`);
    })
    .command('info', 'Show this project\'s board and how statuses map to its columns', () => undefined, async (argv: Args) => {
      const { config, gh } = await setup();
      if (!config.gh.project_id) throw new CliError('no gh.project_id: run orch board link ID first');
      const info = await boardInfo(gh, config.gh.project_id, config.gh.project_status_field_id);
      if (argv.json) return printJson({ ...info, status_map: config.gh.project_status_map ?? {} });
      process.stdout.write([`board:   ${info.title} (${info.id})`, `url:     ${info.url}`,
        `status:  ${info.status ? `${info.status.name} (${info.status.id}): ${info.status.options.map((o) => o.name).join(', ')}` : 'no Status field'}`].join('\n') + '\n');
    })
    .demandCommand(1, 'name a board command: list, link, sync, info');
}
