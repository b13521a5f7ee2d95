import { describe, expect, it } from 'vitest';
import { colourWanted, defaultLogFormat, formatText } from '../../runtime/log-format.js';

const rec = { level: 'warn', time: '2026-01-02T03:04:05.678Z', component: 'serve', msg: 'slow node', node: 'a b', slots: 4, agents: ['claude'], gone: undefined };

describe('log lines as text', () => {
  it('puts time, level, component and message first, then the fields; quotes values with spaces; drops undefined', () => {
    const line = formatText(rec, false);
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.678 WARN  serve slow node node="a b" slots=4 agents=\["claude"\]$/);
  });

  it('colours level and component only when asked', () => {
    expect(formatText(rec, true)).toContain('\x1b[33mWARN \x1b[0m');
    expect(formatText(rec, false)).not.toContain('\x1b[');
  });

  it('keeps a multi-line error on one line', () => {
    expect(formatText({ level: 'error', time: rec.time, component: 'x', msg: 'failed', err: 'Error: boom\n    at f' }, false)).toContain('err="Error: boom\\n    at f"');
  });

  it.each([
    [{ isTTY: true }, {}, true],
    [{ isTTY: true }, { NO_COLOR: '1' }, false],
    [{ isTTY: false }, {}, false],
    [{ isTTY: false }, { FORCE_COLOR: '1' }, true],
    [{ isTTY: true }, { NO_COLOR: '' }, true],
  ])('colour on %o with env %o: %s', (stream, env, want) => {
    expect(colourWanted(stream, env as NodeJS.ProcessEnv)).toBe(want);
  });

  it('defaults to text on a terminal and JSON elsewhere', () => {
    expect(defaultLogFormat({ isTTY: true })).toBe('text');
    expect(defaultLogFormat({ isTTY: false })).toBe('json');
    expect(defaultLogFormat({})).toBe('json');
  });
});
