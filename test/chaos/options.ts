// `npm run chaos -- [--quick] [--only FAULT[,FAULT]] [--tasks N] [--keep]`. Pure.
import { parseArgs } from 'node:util';

export interface ChaosOptions {
  tasks: number;
  quick: boolean;
  only: string[] | undefined;
  keep: boolean;
}

export function parseChaosArgs(argv: string[], faults: readonly string[]): ChaosOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, only: { type: 'string' }, tasks: { type: 'string' }, keep: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length) throw new Error(`unexpected argument ${positionals[0]}`);
  const quick = !!values.quick;
  let tasks = quick ? 30 : 200;
  if (values.tasks !== undefined) {
    tasks = Number(values.tasks);
    if (!Number.isInteger(tasks) || tasks < 1) throw new Error(`--tasks must be a positive integer, got ${JSON.stringify(values.tasks)}`);
  }
  let only: string[] | undefined;
  if (values.only !== undefined) {
    only = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = only.filter((f) => !faults.includes(f));
    if (unknown.length || !only.length) throw new Error(`--only: unknown fault ${JSON.stringify(unknown[0] ?? values.only)}; faults are ${faults.join(', ')}`);
  }
  return { tasks, quick, only, keep: !!values.keep };
}
