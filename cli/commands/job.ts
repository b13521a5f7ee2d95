// `orch job …`: scheduled jobs (cron), as in the Rust orch.
import type { Argv } from 'yargs';
import type { Job, ListJobRunsResponse, ListJobsResponse, TickJobsResponse } from '../../proto/gen/orch/v1/coordinator.js';
import { CliError, withApi, type GlobalArgs } from '../client.js';
import { ago, printJson, table, toJson, truncate } from '../format.js';

type Args = GlobalArgs & Record<string, unknown>;

function showJob(j: Job, json: boolean | undefined, verb: string): void {
  if (json) return printJson(toJson(j));
  process.stdout.write(`job ${j.id} ${verb}: "${j.schedule}"${j.timezone ? ` (${j.timezone})` : ''} ${j.type} "${j.title}"${j.nextRun ? `, next at ${j.nextRun}` : ''}\n`);
}

function timeoutOf(v: unknown): number {
  const n = Number(v ?? 0);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`--timeout ${String(v)}: expected a whole number of seconds`);
  return n;
}

export function jobCommands(y: Argv): Argv {
  const id = (a: Argv) => a.positional('id', { type: 'string', demandOption: true });
  const enable = (enabled: boolean) => async (argv: Args) => withApi(argv, async (api) =>
    showJob(await api.call<'setJobEnabled', object, Job>('setJobEnabled', { id: String(argv.id), enabled }), argv.json, enabled ? 'enabled' : 'disabled'));
  return y
    .command('list', 'List scheduled jobs', {}, async (argv: Args) => withApi(argv, async (api) => {
      const { jobs } = await api.call<'listJobs', object, ListJobsResponse>('listJobs', {});
      if (argv.json) return printJson(toJson(jobs));
      if (!jobs.length) return void process.stdout.write('no jobs (orch job add "0 9 * * *" "Morning review")\n');
      process.stdout.write(table(['ID', 'SCHEDULE', 'TYPE', 'ENABLED', 'PROJECT', 'LAST RUN', 'NEXT RUN', 'TITLE'], jobs.map((j) => [
        j.id, `${j.schedule}${j.timezone ? ` ${j.timezone}` : ''}`, j.type, j.enabled ? 'yes' : 'no', j.project,
        j.lastRun ? `${ago(j.lastRun)}${j.lastTaskId ? ` (#${j.lastTaskId})` : j.type === 'bash' && j.lastOutcome ? ` (${truncate(j.lastOutcome, 30)})` : ''}` : '-', j.nextRun || '-', truncate(j.title, 40),
      ])));
    }))
    .command('add <schedule> [title]', 'Add a job: a cron schedule (5 or 6 fields) and what it does', (a) => a
      .positional('schedule', { type: 'string', demandOption: true, describe: 'e.g. "0 9 * * *" (daily at 9:00)' })
      .positional('title', { type: 'string', describe: 'Title of the task each run creates' })
      .option('body', { type: 'string', default: '' })
      .option('type', { choices: ['task', 'bash'], default: 'task' })
      .option('command', { type: 'string', default: '', describe: 'The command of a bash job' })
      .option('project', { alias: 'p', type: 'string', default: '' })
      .option('labels', { type: 'string', default: '', describe: 'Comma-separated labels for the tasks it creates' })
      .option('timezone', { alias: 'tz', type: 'string', default: '', describe: 'IANA time zone, e.g. Europe/Berlin' })
      .option('id', { type: 'string', default: '', describe: 'Job id (default: from the title)' })
      .option('timeout', { type: 'number', default: 0, describe: 'Bash jobs: seconds a run may take (default 600)' }),
    async (argv: Args) => withApi(argv, async (api) => showJob(await api.call<'addJob', object, Job>('addJob', {
      schedule: String(argv.schedule), title: String(argv.title ?? ''), body: String(argv.body), type: String(argv.type),
      command: String(argv.command), project: String(argv.project), labels: String(argv.labels).split(',').map((s) => s.trim()).filter(Boolean),
      timezone: String(argv.timezone), id: String(argv.id), timeoutSeconds: timeoutOf(argv.timeout),
    }), argv.json, 'added')))
    .command('runs <id>', 'Show the last runs of a job (a bash job\'s exit code and output)', (a) => id(a)
      .option('limit', { alias: 'n', type: 'number', default: 10, describe: 'How many runs' }),
    async (argv: Args) => withApi(argv, async (api) => {
      const { runs } = await api.call<'listJobRuns', object, ListJobRunsResponse>('listJobRuns', { id: String(argv.id), limit: Number(argv.limit) || 10 });
      if (argv.json) return printJson(toJson(runs));
      if (!runs.length) return void process.stdout.write(`job ${argv.id} has not run yet\n`);
      const out: string[] = [];
      for (const r of runs) {
        const where = r.node ? ` on ${r.node}` : '';
        const took = r.finishedAt ? `, ${(r.durationMs / 1000).toFixed(1)} s` : '';
        out.push(`${r.scheduledAt}  ${r.outcome}${r.taskId ? ` (task #${r.taskId})` : ''}${where}${r.exitCode >= 0 ? `, exit ${r.exitCode}` : ''}${took}`);
        if (r.output) out.push(...r.output.replace(/\n$/, '').split('\n').map((l) => `  | ${l}`));
      }
      process.stdout.write(out.join('\n') + '\n');
    }))
    .command('remove <id>', 'Remove a job', id, async (argv: Args) => withApi(argv, async (api) =>
      showJob(await api.call<'removeJob', object, Job>('removeJob', { id: String(argv.id) }), argv.json, 'removed')))
    .command('enable <id>', 'Enable a job', id, enable(true))
    .command('disable <id>', 'Disable a job', id, enable(false))
    .command('tick', 'Run due jobs now (one scheduler pass)', {}, async (argv: Args) => withApi(argv, async (api) => {
      const { fired } = await api.call<'tickJobs', object, TickJobsResponse>('tickJobs', {});
      if (argv.json) return printJson(toJson(fired));
      if (!fired.length) return void process.stdout.write('nothing due\n');
      for (const f of fired) {
        process.stdout.write(f.taskId ? `job ${f.job} (${f.scheduledAt}): task #${f.taskId}\n`
          : f.note ? `job ${f.job} (${f.scheduledAt}): ${f.note}\n` : `job ${f.job} (${f.scheduledAt}): skipped, ${f.skipped}\n`);
      }
    }))
    .demandCommand(1, 'name a job command: list, add, runs, remove, enable, disable, tick');
}
