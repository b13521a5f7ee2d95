// `orch stream [ID]`: follow live agent output from the coordinator, from any machine.
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { CommandModule } from 'yargs';
import type { OutputEvent } from '../../proto/gen/orch/v1/coordinator.js';
import type { ListAgentsResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { Task } from '../../proto/gen/orch/v1/types.js';
import { CliError, connect, type GlobalArgs } from '../client.js';
import { kindOf, liveFormatter } from '../live-format.js';

export const streamCommand: CommandModule = {
  command: 'stream [id]',
  describe: 'Stream live output of one task (with its history) or of every running task (prefixed)',
  builder: (y) => y
    .positional('id', { type: 'string', describe: 'Task id (default: all running tasks)' })
    .option('from-start', { type: 'boolean', default: true, describe: 'With an id: replay what the task already wrote' })
    .option('format', { choices: ['raw', 'events'] as const, describe: 'raw: the agent\'s bytes as written; events: JSON event lines read by the agent\'s adapter (default: events on a terminal, raw otherwise)' }),
  handler: async (argv) => {
    const args = argv as unknown as GlobalArgs & { id?: string; fromStart: boolean; format?: 'raw' | 'events' };
    const taskId = args.id === undefined ? 0 : Number(args.id);
    if (!Number.isInteger(taskId) || taskId < 0) throw new CliError(`"${args.id}" is not a task id`);
    const api = await connect(args);
    const call: ClientReadableStream<OutputEvent> = api.client.streamOutput({ taskId, fromStart: taskId ? args.fromStart : false }, api.metadata);
    const events = (args.format ?? (process.stdout.isTTY ? 'events' : 'raw')) === 'events';
    const color = events && !!process.stdout.isTTY && !process.env.NO_COLOR;
    // Events: each task's lines through its agent's adapter (the agent's kind as the nodes report it).
    const formatters = new Map<number, Promise<(line: string) => string | undefined>>();
    const formatterOf = (id: number) => {
      let f = formatters.get(id);
      if (!f) {
        f = (async () => {
          try {
            const [task, { agents }] = await Promise.all([
              api.call<'getTask', object, Task>('getTask', { id }), api.call<'listAgents', object, ListAgentsResponse>('listAgents', {}),
            ]);
            return liveFormatter(kindOf(task.agent, agents), color);
          } catch {
            return (line: string) => line;
          }
        })();
        formatters.set(id, f);
      }
      return f;
    };
    const partial = new Map<number, string>(); // line buffers per task (events; prefixes in all-task mode)
    let printing = Promise.resolve();
    const show = (e: OutputEvent) => {
      const text = (partial.get(e.taskId) ?? '') + Buffer.from(e.data).toString('utf8');
      const lines = text.split('\n');
      partial.set(e.taskId, e.end ? '' : lines.pop()!);
      const prefix = taskId ? '' : `[#${e.taskId}] `;
      printing = printing.then(async () => {
        const fmt = events ? await formatterOf(e.taskId) : (l: string) => l;
        for (const l of lines) {
          if (!l && e.end) continue;
          const out = fmt(l);
          if (out !== undefined) process.stdout.write(`${prefix}${out}\n`);
        }
      });
    };
    await new Promise<void>((resolve, reject) => {
      call.on('data', (e: OutputEvent) => {
        if (taskId && !events) {
          if (e.data.length) process.stdout.write(e.data);
          return;
        }
        show(e);
      });
      call.on('end', () => { void printing.then(() => resolve()); });
      call.on('error', (err: Error & { code?: number; details?: string }) => {
        if (err.code === 1) resolve(); // cancelled by us
        else reject(api.explain(err as never));
      });
      process.once('SIGINT', () => { call.cancel(); resolve(); });
    });
    api.close();
  },
};
