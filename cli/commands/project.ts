// `orch project …`: register the repositories orch works on.
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import type { ListProjectsResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { Project } from '../../proto/gen/orch/v1/types.js';
import { withApi, type GlobalArgs } from '../client.js';
import { printJson, table, toJson } from '../format.js';

type Args = GlobalArgs & Record<string, unknown>;

/** Local paths are made absolute here (the coordinator may run elsewhere); URLs and owner/repo pass through. */
function normalize(spec: string | undefined): string {
  if (!spec) return process.cwd();
  if (/^[a-z]+:\/\//.test(spec) || /^[^/]+@[^:]+:/.test(spec)) return spec;
  if (/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(spec)) return spec; // owner/repo (or a relative path: the coordinator checks)
  return resolve(spec);
}

export function projectCommands(y: Argv): Argv {
  return y
    .command('add [path]', 'Register a project (a local path, a git URL or owner/repo; default: the current directory)', (a) => a.positional('path', { type: 'string' }),
      async (argv: Args) => withApi(argv, async (api) => {
        let spec = normalize(argv.path as string | undefined);
        // A relative path that looks like owner/repo but exists locally is a path.
        if (argv.path && !spec.startsWith('/') && !/^[a-z]+:\/\//.test(spec)) {
          const { existsSync } = await import('node:fs');
          if (existsSync(resolve(spec))) spec = resolve(spec);
        }
        const p = await api.call<'addProject', object, Project>('addProject', { path: spec });
        if (argv.json) printJson(toJson(p));
        else process.stdout.write(`project ${p.name} registered (remote ${p.remote}, default branch ${p.defaultBranch})\n`);
      }))
    .command('list', 'List registered projects', {}, async (argv: Args) => withApi(argv, async (api) => {
      const { projects } = await api.call<'listProjects', object, ListProjectsResponse>('listProjects', {});
      if (argv.json) return printJson(toJson(projects));
      if (!projects.length) return void process.stdout.write('no projects: add one with `orch project add [PATH]`\n');
      process.stdout.write(table(['NAME', 'BRANCH', 'PATH', 'REMOTE'], projects.map((p) => [p.name, p.defaultBranch, p.path || '-', p.remote])));
    }))
    .command('remove <project>', 'Unregister a project (name or path)', (a) => a.positional('project', { type: 'string', demandOption: true }),
      async (argv: Args) => withApi(argv, async (api) => {
        const spec = String(argv.project);
        const p = await api.call<'removeProject', object, Project>('removeProject', { project: spec.startsWith('.') || spec.startsWith('/') ? resolve(spec) : spec });
        if (argv.json) printJson(toJson(p));
        else process.stdout.write(`project ${p.name} removed\n`);
      }))
    .demandCommand(1, 'name a project command: add, list, remove');
}
