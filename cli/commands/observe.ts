// Watching the fleet's work: `orch task attach|live|logs|history` and `orch log`.
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import type { Argv, CommandModule } from 'yargs';
import type { ListLiveResponse, LogLine, OutputEvent } from '../../proto/gen/orch/v1/coordinator.js';
import type { Task } from '../../proto/gen/orch/v1/types.js';
import { CliError, withApi, type Api, type GlobalArgs } from '../client.js';
import { ago, printJson, table, toJson, truncate } from '../format.js';
import { colourWanted, formatText } from '../../runtime/log-format.js';
import { attach } from './attach.js';

type Args = GlobalArgs & Record<string, unknown>;

function taskId(v: unknown): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`"${v}" is not a task id (a positive number)`);
  return n;
}

/** 75 s -> 1m15s. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Settle on the coordinator that answers (with standbys listed, only the leader does) before opening a stream to it. */
async function leader(api: Api): Promise<void> {
  await api.call('getStatus', {});
}

/** Drain a server stream; Ctrl-C ends it quietly. */
function drain<T>(api: Api, call: ClientReadableStream<T>, onData: (x: T) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sigint = () => { call.cancel(); resolve(); };
    process.once('SIGINT', sigint);
    call.on('data', onData);
    call.on('end', () => { process.off('SIGINT', sigint); resolve(); });
    call.on('error', (err: ServiceError) => {
      process.off('SIGINT', sigint);
      if (err.code === 1) resolve(); // cancelled by us
      else reject(api.explain(err));
    });
  });
}

/** One log record as a person reads it (the one text form of orch's logs); a line that is not JSON as it is. */
export function formatLogLine(line: string, colour = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  return formatText(rec, colour);
}

export function taskObserveCommands(y: Argv): Argv {
  return y
    .command('attach <id>', 'Open a terminal on a running task\'s agent session (detach: tmux prefix, then d)', (a) => a
      .positional('id', { type: 'string', demandOption: true })
      .option('read-only', { alias: 'r', type: 'boolean', default: false, describe: 'Watch only: keys other than detach are ignored' })
      .option('via-coordinator', { type: 'boolean', default: false, describe: 'Relay through the coordinator even when the session is on this machine' }),
    async (argv: Args) => withApi(argv, (api) => attach(api, taskId(argv.id), { readOnly: !!argv.readOnly, viaCoordinator: !!argv.viaCoordinator })))
    .command('live', 'Running agent sessions across the fleet', (a) => a,
      async (argv: Args) => withApi(argv, async (api) => {
        const { sessions } = await api.call<'listLive', object, ListLiveResponse>('listLive', {});
        if (argv.json) return printJson(toJson(sessions));
        if (!sessions.length) return void process.stdout.write('no agent is running\n');
        const now = Date.now();
        process.stdout.write(table(['TASK', 'ATT', 'NODE', 'AGENT', 'MODEL', 'RUNTIME', 'LAST OUTPUT', 'TITLE'], sessions.map((s) => [
          `#${s.taskId}`, s.attempt, s.node, s.agent, s.model || '-', duration(now - Date.parse(s.startedAt)), s.lastOutputAt ? ago(s.lastOutputAt) : 'none yet', truncate(s.title, 50),
        ])));
      }))
    .command('logs <id>', 'Stored output of a task\'s attempt (default: the latest)', (a) => a
      .positional('id', { type: 'string', demandOption: true })
      .option('attempt', { alias: 'n', type: 'number', describe: 'Attempt number (default: the latest)' })
      .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing while the attempt runs' }),
    async (argv: Args) => withApi(argv, async (api) => {
      const attempt = argv.attempt === undefined ? 0 : Number(argv.attempt);
      if (!Number.isInteger(attempt) || attempt < 0) throw new CliError(`--attempt ${String(argv.attempt)}: use an attempt number (1, 2, …)`);
      const id = taskId(argv.id);
      await leader(api);
      const call = api.client.readOutput({ taskId: id, attempt, follow: !!argv.follow }, api.metadata);
      const chunks: Buffer[] = [];
      let seen = 0;
      let which = attempt;
      await drain(api, call, (e: OutputEvent) => {
        which = e.attempt;
        seen += e.data.length;
        if (argv.json && !argv.follow) chunks.push(Buffer.from(e.data));
        else if (e.data.length) process.stdout.write(e.data);
      });
      if (argv.json && !argv.follow) return printJson({ task_id: id, attempt: which, output: Buffer.concat(chunks).toString('utf8') });
      if (!seen) process.stderr.write(`(no output stored for task #${id}${attempt ? ` attempt ${attempt}` : ''})\n`);
    }))
    .command('history <id>', 'The task\'s timeline: every status change and event', (a) => a.positional('id', { type: 'string', demandOption: true }),
      async (argv: Args) => withApi(argv, async (api) => {
        const t = await api.call<'getTask', object, Task>('getTask', { id: taskId(argv.id) });
        if (argv.json) return printJson(toJson(t.events));
        if (!t.events.length) return void process.stdout.write(`task #${t.id} has no events\n`);
        process.stdout.write(`#${t.id} ${t.title} (${t.status})\n`);
        process.stdout.write(table(['AT', 'FROM', 'TO', 'EVENT', 'DETAIL'], t.events.map((e) => [e.at, e.fromStatus || '-', e.toStatus, e.event, truncate(e.detail, 80)])));
      }));
}

export const logCommand: CommandModule = {
  command: 'log [lines]',
  describe: 'The coordinator\'s log: the last lines (default 50), or follow it',
  builder: (y) => y
    .positional('lines', { type: 'number', describe: 'How many of the last lines' })
    .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Then print new lines as they are written' }),
  handler: async (argv) => withApi(argv as unknown as Args, async (api) => {
    const a = argv as unknown as Args & { lines?: number; follow: boolean };
    const lines = a.lines === undefined ? 0 : Number(a.lines);
    if (!Number.isInteger(lines) || lines < 0) throw new CliError(`"${String(a.lines)}" is not a number of lines`);
    await leader(api);
    const call = api.client.readLog({ lines, follow: a.follow }, api.metadata);
    const all: unknown[] = [];
    const colour = colourWanted(process.stdout);
    await drain(api, call, (l: LogLine) => {
      if (a.json && !a.follow) {
        try { all.push(JSON.parse(l.line)); } catch { all.push({ line: l.line }); }
      } else process.stdout.write((a.json ? l.line : formatLogLine(l.line, colour)) + '\n');
    });
    if (a.json && !a.follow) printJson(all);
  }),
};
