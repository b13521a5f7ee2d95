// How a log record becomes a line: JSON (one object a line, for files, journald and
// machines) or text (time, level, component, message, key=value fields; coloured on a
// terminal unless NO_COLOR is set). Chosen once at the sink; records are the same either way.

export type LogFormat = 'json' | 'text';

/** The format when none is asked for: text for a person at a terminal, JSON otherwise. */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return stream.isTTY ? 'text' : 'json';
}

/** Colour only on a terminal, and never when NO_COLOR is set to anything non-empty (no-color.org). */
export function colourWanted(stream: { isTTY?: boolean } = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return !!stream.isTTY;
}

const LEVEL_COLOUR: Record<string, string> = { debug: '90', info: '36', warn: '33', error: '31' };
const paint = (on: boolean, code: string, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/** A field value as it reads on one line: bare when it has no space or quote, JSON-quoted otherwise. */
function fieldValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return typeof v === 'string' && (/[\s"=]/.test(s) || s === '') ? JSON.stringify(s) : s;
}

/**
 * `12:01:02.345 INFO  serve  coordinator listening address=127.0.0.1:7400`: the local time
 * (the date is in the JSON form), the level, the component, the message, then every other field.
 */
export function formatText(rec: Record<string, unknown>, colour: boolean): string {
  const { level, time, component, msg, ...fields } = rec;
  const lvl = String(level ?? 'info');
  const at = new Date(typeof time === 'string' ? time : Date.now());
  const clock = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}:${String(at.getSeconds()).padStart(2, '0')}.${String(at.getMilliseconds()).padStart(3, '0')}`;
  const parts = [
    paint(colour, '2', clock),
    paint(colour, LEVEL_COLOUR[lvl] ?? '0', lvl.toUpperCase().padEnd(5)),
    paint(colour, '35', String(component ?? '')),
    lvl === 'error' || lvl === 'warn' ? paint(colour, '1', String(msg ?? '')) : String(msg ?? ''),
  ];
  const rest = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${paint(colour, '2', k + '=')}${fieldValue(v)}`);
  return [...parts, ...rest].join(' ');
}
