// Adapter lookup by kind (kimi and minimax are profiles of kind claude: see spec.ts).
import { claudeAdapter } from './claude.js';
import { codexAdapter } from './codex.js';
import { commandAdapter } from './command.js';
import { opencodeAdapter } from './opencode.js';
import type { AgentAdapter } from './types.js';

const ADAPTERS: Record<string, AgentAdapter> = { claude: claudeAdapter, codex: codexAdapter, opencode: opencodeAdapter, command: commandAdapter };

export function adapterFor(kind: string): AgentAdapter {
  const a = ADAPTERS[kind];
  if (!a) throw new Error(`no adapter for agent kind "${kind}" (available: ${Object.keys(ADAPTERS).join(', ')})`);
  return a;
}

export type { AgentAdapter, AgentRun, AgentSpec, Invocation } from './types.js';
