// Adapter lookup by kind. codex/opencode adapters come with their issues; until
// then an agent of those kinds is refused at start with a clear message.
import { claudeAdapter } from './claude.js';
import { commandAdapter } from './command.js';
import type { AgentAdapter } from './types.js';

const ADAPTERS: Record<string, AgentAdapter> = { claude: claudeAdapter, command: commandAdapter };

export function adapterFor(kind: string): AgentAdapter {
  const a = ADAPTERS[kind];
  if (!a) throw new Error(`no adapter for agent kind "${kind}" yet (available: ${Object.keys(ADAPTERS).join(', ')})`);
  return a;
}

export type { AgentAdapter, AgentRun, AgentSpec, Invocation } from './types.js';
