// `orch task …`: create, inspect and steer tasks.
import type { Argv } from 'yargs';
import type { ListTasksResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { Project, RoutingDecision, Task } from '../../proto/gen/orch/v1/types.js';
import { CliError, withApi, type Api, type GlobalArgs } from '../client.js';
import { printJson, table, toJson, truncate } from '../format.js';
import { taskCostCommand } from './usage.js';

function showTask(t: Task, json: boolean | undefined): void {
  if (json) return printJson(toJson(t));
  const lines = [
    `#${t.id} ${t.title}`,
    `status:     ${t.status}${t.reason ? ` (${t.reason})` : ''}`,
    `project:    ${t.project}`,
    `agent:      ${t.agent || '-'}${t.model ? ` / ${t.model}` : ''}${t.complexity ? ` (${t.complexity})` : ''}`,
    `branch:     ${t.branch || '-'}`,
    `attempts:   ${t.attempts}${t.node ? ` (last on ${t.node})` : ''}`,
  ];
  if (t.routing) lines.push(...routingLines(t.routing));
  if (t.labels.length) lines.push(`labels:     ${t.labels.join(', ')}`);
  if (t.traceId) lines.push(`trace:      ${t.traceId}`);
  if (t.parentId) lines.push(`parent:     #${t.parentId}`);
  if (t.children.length) lines.push(`delegated:  ${t.children.map((c) => `#${c}`).join(', ')}`);
  if (t.issueNumber) lines.push(`issue:      #${t.issueNumber}${t.prNumber ? `, PR #${t.prNumber}` : ''}`);
  if (t.summary) lines.push(`summary:    ${t.summary}`);
  if (t.filesChanged.length) lines.push(`files:      ${t.filesChanged.join(', ')}`);
  if (t.body) lines.push('', t.body);
  if (t.attemptHistory.length) {
    lines.push('', table(['#', 'STATE', 'NODE', 'AGENT', 'EXIT', 'TOKENS IN/OUT', 'ERROR'], t.attemptHistory.map((a) => [
      a.number, a.state, a.node, `${a.agent}${a.model ? '/' + a.model : ''}`, a.finishedAt ? a.exitCode : '-',
      `${a.inputTokens}/${a.outputTokens}`, truncate(a.errorClass ? `${a.errorClass}: ${a.errorMessage}` : '', 50),
    ])).trimEnd());
  }
  if (t.events.length) {
    lines.push('', 'history:');
    for (const e of t.events) lines.push(`  ${e.at}  ${(e.fromStatus || '-').padEnd(12)} -> ${e.toStatus.padEnd(12)} ${e.event}${e.detail ? ': ' + truncate(e.detail, 80) : ''}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/** How the task was routed: by whom, why, and what the router itself cost. */
function routingLines(r: RoutingDecision): string[] {
  const out = [`routed:     ${r.source.replace('_', '-')} (${r.mode.replace('_', '-')} mode): ${r.reason}`];
  if (r.tries) {
    const usage = `${r.inputTokens + r.cacheReadTokens + r.cacheWriteTokens} in / ${r.outputTokens} out tokens, $${r.costUsd.toFixed(4)}, ${(r.durationMs / 1000).toFixed(1)} s`;
    out.push(`router:     ${r.routerAgent}${r.routerModel ? `/${r.routerModel}` : ''}${r.routerNode ? ` on ${r.routerNode}` : ''}, ${r.tries} call${r.tries > 1 ? 's' : ''}, ${usage}`);
  }
  if (r.routerError) out.push(`router err: ${r.routerError}`);
  return out;
}

function taskId(v: unknown): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`"${v}" is not a task id (a positive number)`);
  return n;
}

/** The project a new task belongs to: --project, else the registered project containing the cwd. */
async function projectFor(api: Api, given: string | undefined): Promise<string> {
  if (given) return given;
  const { projects } = await api.call<'listProjects', object, { projects: Project[] }>('listProjects', {});
  const cwd = process.cwd();
  const hit = projects.filter((p) => p.path && (cwd === p.path || cwd.startsWith(p.path + '/'))).sort((a, b) => b.path.length - a.path.length)[0];
  return hit?.name ?? '';
}

type Args = GlobalArgs & Record<string, unknown>;

export function taskCommands(y: Argv): Argv {
  return taskCostCommand(y)
    .command('add <title>', 'Create a task', (a) => a
      .positional('title', { type: 'string', demandOption: true })
      .option('body', { alias: 'b', type: 'string', default: '', describe: 'Task description' })
      .option('agent', { alias: 'a', type: 'string', describe: 'Agent to run it (skips routing)' })
      .option('complexity', { alias: 'c', choices: ['simple', 'medium', 'complex'] as const, describe: 'Model tier' })
      .option('labels', { alias: 'l', type: 'string', describe: 'Comma-separated labels' })
      .option('project', { alias: 'p', type: 'string', describe: 'Project name or path' })
      .option('internal', { type: 'boolean', default: false, describe: 'In a project with gh.repo: keep it internal (no GitHub issue)' }),
    async (argv: Args) => withApi(argv, async (api) => {
      const t = await api.call<'addTask', object, Task>('addTask', {
        internal: !!argv.internal,
        title: String(argv.title), body: String(argv.body ?? ''), agent: (argv.agent as string) ?? '',
        complexity: (argv.complexity as string) ?? '', labels: String(argv.labels ?? '').split(',').map((s) => s.trim()).filter(Boolean),
        project: await projectFor(api, argv.project as string | undefined),
      });
      if (argv.json) printJson(toJson(t));
      else process.stdout.write(`created task #${t.id} in ${t.project}${t.issueNumber ? ` (issue #${t.issueNumber})` : ''}: ${t.title}\n`);
    }))
    .command('publish <id>', 'Promote an internal task to a GitHub issue (projects with gh.repo)', (a) => a.positional('id', { type: 'string', demandOption: true }),
      async (argv: Args) => withApi(argv, async (api) => {
        const t = await api.call<'publishTask', object, Task>('publishTask', { id: taskId(argv.id) });
        if (argv.json) printJson(toJson(t));
        else process.stdout.write(`task #${t.id} is issue #${t.issueNumber}\n`);
      }))
    .command('list', 'List tasks', (a) => a
      .option('status', { alias: 's', type: 'string', describe: 'Only tasks in this status' })
      .option('project', { alias: 'p', type: 'string' }),
    async (argv: Args) => withApi(argv, async (api) => {
      const { tasks } = await api.call<'listTasks', object, ListTasksResponse>('listTasks', { status: argv.status ?? '', project: argv.project ?? '' });
      if (argv.json) return printJson(toJson(tasks));
      if (tasks.length === 0) return void process.stdout.write('no tasks\n');
      process.stdout.write(table(['ID', 'STATUS', 'AGENT', 'MODEL', 'ATT', 'PROJECT', 'TITLE'],
        tasks.map((t) => [t.id, t.status, t.agent || '-', t.model || '-', t.attempts, t.project, truncate(t.title, 60)])));
    }))
    .command('get <id>', 'Show a task with its attempts and history', (a) => a.positional('id', { type: 'string', demandOption: true }),
      async (argv: Args) => withApi(argv, async (api) => showTask(await api.call<'getTask', object, Task>('getTask', { id: taskId(argv.id) }), argv.json)))
    .command('run [id]', 'Run a task now (without id: the next waiting task)', (a) => a.positional('id', { type: 'string' }),
      async (argv: Args) => withApi(argv, async (api) => {
        const t = await api.call<'runTask', object, Task>('runTask', { id: argv.id === undefined ? 0 : taskId(argv.id) });
        if (argv.json) printJson(toJson(t));
        else process.stdout.write(`task #${t.id} queued to run (${t.status})\n`);
      }))
    .command('route <id>', 'Route a task again (the router decides unless --agent/--complexity pin it)', (a) => a
      .positional('id', { type: 'string', demandOption: true })
      .option('agent', { alias: 'a', type: 'string', describe: 'Pin the agent' })
      .option('complexity', { alias: 'c', choices: ['simple', 'medium', 'complex'] as const, describe: 'Pin the model tier' })
      .option('wait', { type: 'boolean', default: true, describe: 'Wait for the decision (--no-wait: return at once)' }),
    async (argv: Args) => withApi(argv, async (api) => {
      const t = await api.call<'routeTask', object, Task>('routeTask', {
        id: taskId(argv.id), agent: (argv.agent as string) ?? '', complexity: (argv.complexity as string) ?? '', noWait: argv.wait === false,
      }, 600_000);
      if (argv.json) return printJson(toJson(t));
      if (t.status === 'new') return void process.stdout.write(`task #${t.id} is waiting for its routing decision\n`);
      process.stdout.write(`task #${t.id} routed to ${t.agent}${t.model ? ` / ${t.model}` : ''} (${t.complexity})${t.routing ? `: ${t.routing.reason}` : ''}\n`);
    }))
    .command('retry <id>', 'Reset a task to new for re-routing', (a) => a.positional('id', { type: 'string', demandOption: true }),
      async (argv: Args) => withApi(argv, async (api) => {
        const t = await api.call<'retryTask', object, Task>('retryTask', { id: taskId(argv.id) });
        if (argv.json) printJson(toJson(t));
        else process.stdout.write(`task #${t.id} reset (${t.status})\n`);
      }))
    .command('unblock <id>', 'Send a blocked task back to new with a fresh attempt budget', (a) => a.positional('id', { type: 'string', demandOption: true }),
      async (argv: Args) => withApi(argv, async (api) => {
        const t = await api.call<'unblockTask', object, Task>('unblockTask', { id: taskId(argv.id) });
        if (argv.json) printJson(toJson(t));
        else process.stdout.write(`task #${t.id} unblocked (${t.status})\n`);
      }))
    .command('close <id>', 'Mark a task done', (a) => a
      .positional('id', { type: 'string', demandOption: true })
      .option('note', { alias: 'n', type: 'string', default: '', describe: 'Closing note' }),
    async (argv: Args) => withApi(argv, async (api) => {
      const t = await api.call<'closeTask', object, Task>('closeTask', { id: taskId(argv.id), note: String(argv.note ?? '') });
      if (argv.json) printJson(toJson(t));
      else process.stdout.write(`task #${t.id} closed\n`);
    }))
    .command('kill <id>', 'Kill the running agent session of a task', (a) => a.positional('id', { type: 'string', demandOption: true }),
      async (argv: Args) => withApi(argv, async (api) => {
        const t = await api.call<'killTask', object, Task>('killTask', { id: taskId(argv.id) });
        if (argv.json) printJson(toJson(t));
        else process.stdout.write(`task #${t.id} killed (${t.status})\n`);
      }))
    .demandCommand(1, 'name a task command: add, list, get, run, route, retry, unblock, close, kill, cost, publish');
}
