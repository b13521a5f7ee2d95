// `--log-format text|json` and `--log-level` for the long-running commands (`orch serve`,
// `orch node start`): text on a terminal, JSON lines otherwise, unless asked.
import type { Argv } from 'yargs';
import { colourWanted, defaultLogFormat, type LogFormat } from '../runtime/log-format.js';
import { setLogFormat, setLogLevel, type Level } from '../runtime/log.js';

export interface LogArgs {
  logFormat?: LogFormat;
  logLevel?: Level;
}

export function logOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('log-format', { choices: ['text', 'json'] as const, describe: 'Log lines as text (default on a terminal; coloured unless NO_COLOR) or JSON (default otherwise)' })
    .option('log-level', { choices: ['debug', 'info', 'warn', 'error'] as const, describe: 'Least severe level logged (default log.level in config.yml, or info)' }) as unknown as Argv<T>;
}

/** The sink's format now (before config is read, so its warnings already read well). */
export function applyLogFormat(args: LogArgs): void {
  const format = args.logFormat ?? defaultLogFormat();
  setLogFormat(format, format === 'text' && colourWanted());
}

/** The level: --log-level, else the config's. */
export function applyLogLevel(args: LogArgs, configured: Level | undefined): void {
  setLogLevel(args.logLevel ?? configured ?? 'info');
}
