// `orch init`: create $ORCH_HOME/config.yml and the project's .orch.yml, then
// register the project when a coordinator is running.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { CommandModule } from 'yargs';
import type { Project } from '../../proto/gen/orch/v1/types.js';
import { OrchPaths, orchHome } from '../../runtime/paths.js';
import { coordinatorAddress, withApi, type GlobalArgs } from '../client.js';

const GLOBAL_TEMPLATE = `# orch global configuration (shared defaults + project registry).
# Every key is optional; see README.md "Configuration".
workflow:
  max_attempts: 5
  timeout_seconds: 1800
router:
  mode: round_robin
model_map:
  simple: { claude: haiku }
  medium: { claude: sonnet }
  complex: { claude: opus }
agents:
  claude:
    # command: /path/to/claude      # binary (default: claude on PATH)
    permission_mode: bypassPermissions
    # env: { ANTHROPIC_BASE_URL: "https://…" }
`;

export const initCommand: CommandModule = {
  command: 'init',
  describe: 'Initialise orch for the current project (config files; registers it with a running coordinator)',
  builder: (y) => y.option('repo', { type: 'string', describe: 'owner/repo of the project on GitHub' }),
  handler: async (argv) => {
    const args = argv as unknown as GlobalArgs & { repo?: string };
    const paths = new OrchPaths(orchHome());
    mkdirSync(paths.home, { recursive: true });
    if (!existsSync(paths.config)) {
      writeFileSync(paths.config, GLOBAL_TEMPLATE, { mode: 0o600 });
      process.stdout.write(`wrote ${paths.config}\n`);
    } else {
      process.stdout.write(`kept ${paths.config}\n`);
    }
    const local = join(process.cwd(), '.orch.yml');
    if (!existsSync(local)) {
      const repo = args.repo ?? `local/${basename(process.cwd())}`;
      writeFileSync(local, `# orch project configuration: overrides ${paths.config}\ngh:\n  repo: "${repo}"\n# required_tools: [cargo]\n`);
      process.stdout.write(`wrote ${local}\n`);
    }
    let address: string | undefined;
    try { address = coordinatorAddress(args); } catch { address = undefined; }
    if (!address) {
      process.stdout.write('no coordinator is running: start one with `orch serve`, then `orch project add`\n');
      return;
    }
    await withApi(args, async (api) => {
      const p = await api.call<'addProject', object, Project>('addProject', { path: process.cwd() });
      process.stdout.write(`project ${p.name} registered\n`);
    });
  },
};
