// `orch stream [ID]`: follow live agent output from the coordinator, from any machine.
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { CommandModule } from 'yargs';
import type { OutputEvent } from '../../proto/gen/orch/v1/coordinator.js';
import { CliError, connect, type GlobalArgs } from '../client.js';

export const streamCommand: CommandModule = {
  command: 'stream [id]',
  describe: 'Stream live output of one task (with its history) or of every running task (prefixed)',
  builder: (y) => y
    .positional('id', { type: 'string', describe: 'Task id (default: all running tasks)' })
    .option('from-start', { type: 'boolean', default: true, describe: 'With an id: replay what the task already wrote' }),
  handler: async (argv) => {
    const args = argv as unknown as GlobalArgs & { id?: string; fromStart: boolean };
    const taskId = args.id === undefined ? 0 : Number(args.id);
    if (!Number.isInteger(taskId) || taskId < 0) throw new CliError(`"${args.id}" is not a task id`);
    const api = await connect(args);
    const call: ClientReadableStream<OutputEvent> = api.client.streamOutput({ taskId, fromStart: taskId ? args.fromStart : false }, api.metadata);
    const partial = new Map<number, string>(); // all-task mode: line buffers per task, for prefixes
    await new Promise<void>((resolve, reject) => {
      call.on('data', (e: OutputEvent) => {
        if (taskId) {
          if (e.data.length) process.stdout.write(e.data);
          return;
        }
        const text = (partial.get(e.taskId) ?? '') + Buffer.from(e.data).toString('utf8');
        const lines = text.split('\n');
        partial.set(e.taskId, e.end ? '' : lines.pop()!);
        for (const l of lines) if (l || !e.end) process.stdout.write(`[#${e.taskId}] ${l}\n`);
      });
      call.on('end', () => resolve());
      call.on('error', (err: Error & { code?: number; details?: string }) => {
        if (err.code === 1) resolve(); // cancelled by us
        else reject(api.explain(err as never));
      });
      process.once('SIGINT', () => { call.cancel(); resolve(); });
    });
    api.close();
  },
};
