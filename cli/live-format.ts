// Agent output as a person reads it: each line of a JSON-event agent (Claude Code, Codex,
// OpenCode) through its adapter's liveEvent parser (`▸ tool Bash {"command":"ls"}`), other
// lines as they are. Pure; `orch stream` uses it on a terminal (or with --format events).
import { adapterFor } from '../agent-node/agents/index.js';
import { jsonEvent } from '../agent-node/agents/events.js';
import type { LiveEvent } from '../agent-node/agents/types.js';

/** The adapter kind of an agent name when no node says (the built-in names and profiles). */
const KIND_BY_NAME: Record<string, string> = { claude: 'claude', codex: 'codex', opencode: 'opencode', kimi: 'claude', minimax: 'claude' };

export function kindOf(agent: string, reported: Array<{ name: string; kind: string }>): string {
  return reported.find((a) => a.name === agent && a.kind)?.kind ?? KIND_BY_NAME[agent] ?? 'command';
}

const MARK: Record<LiveEvent['kind'], string> = { start: '●', text: '│', tool: '▸', usage: '∑', error: '✗', result: '✓' };
const COLOR: Record<LiveEvent['kind'], string> = { start: '36', text: '0', tool: '33', usage: '2', error: '31', result: '32' };

/** A line formatter for one agent kind: undefined means the line shows nothing (an event of no interest). */
export function liveFormatter(kind: string, color: boolean): (line: string) => string | undefined {
  let adapter: ReturnType<typeof adapterFor> | undefined;
  try {
    adapter = kind === 'command' ? undefined : adapterFor(kind);
  } catch {
    adapter = undefined;
  }
  return (line: string) => {
    if (!adapter || jsonEvent(line) === undefined) return line; // plain text: as it is
    const ev = adapter.liveEvent(line);
    if (!ev) return undefined;
    const head = `${MARK[ev.kind]} ${ev.kind}`;
    return `${color && COLOR[ev.kind] !== '0' ? `\x1b[${COLOR[ev.kind]}m${head}\x1b[0m` : head} ${ev.text.replace(/\s*\n\s*/g, ' ⏎ ')}`;
  };
}
