// From config to an AgentSpec: which agents this node offers, what binary each runs,
// with which extra environment.
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { OrchConfig } from '../../runtime/config/index.js';
import type { AgentSpec } from './types.js';

const KNOWN: Record<string, string> = { claude: 'claude', codex: 'codex', opencode: 'opencode', kimi: 'claude', minimax: 'claude' };

/** Agent names configured on this node (claude when none is). */
export function configuredAgents(config: OrchConfig): string[] {
  const names = Object.entries(config.agents ?? {}).filter(([, a]) => a?.enabled !== false).map(([n]) => n);
  return names.length ? names : ['claude'];
}

export function agentSpec(name: string, config: OrchConfig): AgentSpec {
  const c = config.agents?.[name];
  const kind = c?.kind ?? KNOWN[name] ?? 'command';
  return {
    name,
    kind,
    command: c?.command ?? (kind === 'command' ? name : kind),
    args: c?.args ?? [],
    env: { ...(c?.env ?? {}) },
    permissionMode: c?.permission_mode,
    allowedTools: c?.allowed_tools,
    disallowedTools: c?.disallowed_tools,
  };
}

/** The absolute path of an executable (absolute/relative path or a name on PATH), or undefined. */
export function resolveCommand(cmd: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  const candidates = isAbsolute(cmd) || cmd.includes('/') ? [cmd] : pathEnv.split(delimiter).filter(Boolean).map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}
