// ConfigError: one line a user can act on: file, line, column, dotted key, problem.

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly line?: number,
    readonly column?: number,
    readonly key?: string,
  ) {
    super(`${file}${line ? `:${line}${column ? `:${column}` : ''}` : ''}: ${key ? `${key}: ` : ''}${problem}`);
    this.name = 'ConfigError';
  }
}
