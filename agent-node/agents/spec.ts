// From config to an AgentSpec: which agents this node offers, what binary each runs,
// with which extra environment. kimi and minimax are built-in profiles of Claude Code
// pointed at the provider's Anthropic-compatible endpoint; every field is overridable.
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { OrchConfig } from '../../runtime/config/index.js';
import type { AgentSpec } from './types.js';

const KNOWN: Record<string, string> = { claude: 'claude', codex: 'codex', opencode: 'opencode', kimi: 'claude', minimax: 'claude' };

export interface ClaudeProfile {
  baseUrl: string;
  /** Variable of orch's environment holding the provider key (sent as ANTHROPIC_AUTH_TOKEN). */
  keyEnv: string;
  model: string;
  /** Model for Claude Code's side requests (titles, summaries): one the provider serves. */
  smallModel: string;
}

export const PROFILES: Record<string, ClaudeProfile> = {
  kimi: { baseUrl: 'https://api.moonshot.ai/anthropic', keyEnv: 'KIMI_API_KEY', model: 'kimi-k2-0905-preview', smallModel: 'kimi-k2-turbo-preview' },
  minimax: { baseUrl: 'https://api.minimax.io/anthropic', keyEnv: 'MINIMAX_API_KEY', model: 'MiniMax-M2', smallModel: 'MiniMax-M2' },
};

/** Agent names configured on this node (claude when none is). */
export function configuredAgents(config: OrchConfig): string[] {
  const names = Object.entries(config.agents ?? {}).filter(([, a]) => a?.enabled !== false).map(([n]) => n);
  return names.length ? names : ['claude'];
}

/** Models configured for an agent: model_map entries of every tier, agents.<name>.models/model, a profile's default. */
export function configuredModels(name: string, config: OrchConfig): string[] {
  const out: string[] = [];
  for (const tier of Object.values(config.model_map ?? {})) {
    const m = tier?.[name];
    out.push(...(Array.isArray(m) ? m : m ? [m] : []));
  }
  const c = config.agents?.[name];
  out.push(...(c?.models ?? []));
  if (c?.model) out.push(c.model);
  else if (PROFILES[name] && (c?.kind ?? 'claude') === 'claude') out.push(PROFILES[name].model);
  return [...new Set(out)];
}

export function agentSpec(name: string, config: OrchConfig, env: NodeJS.ProcessEnv = process.env): AgentSpec {
  const c = config.agents?.[name];
  const kind = c?.kind ?? KNOWN[name] ?? 'command';
  const profile = kind === 'claude' ? PROFILES[name] : undefined;
  const spec: AgentSpec = {
    name,
    kind,
    command: c?.command ?? (kind === 'command' ? name : kind),
    args: c?.args ?? [],
    env: {},
    defaultModel: c?.model,
    permissionMode: c?.permission_mode,
    allowedTools: c?.allowed_tools,
    disallowedTools: c?.disallowed_tools,
    sandbox: c?.sandbox,
    skipGitRepoCheck: c?.skip_git_repo_check,
  };
  if (profile) {
    const model = c?.model ?? profile.model;
    const small = c?.small_model ?? profile.smallModel;
    const key = env[c?.api_key_env ?? profile.keyEnv];
    spec.defaultModel = model;
    // A node's own Anthropic settings must not leak into another provider's session.
    spec.env = {
      ANTHROPIC_BASE_URL: c?.base_url ?? profile.baseUrl,
      ANTHROPIC_API_KEY: '',
      ...(key ? { ANTHROPIC_AUTH_TOKEN: key } : {}),
      ANTHROPIC_MODEL: model,
      ANTHROPIC_DEFAULT_OPUS_MODEL: model,
      ANTHROPIC_DEFAULT_SONNET_MODEL: model,
      ANTHROPIC_DEFAULT_HAIKU_MODEL: small,
      ANTHROPIC_SMALL_FAST_MODEL: small,
    };
  } else if (kind === 'claude' && c?.base_url) {
    spec.env.ANTHROPIC_BASE_URL = c.base_url;
  }
  if (kind === 'claude' && c?.api_key_env && !profile && env[c.api_key_env]) spec.env.ANTHROPIC_AUTH_TOKEN = env[c.api_key_env]!;
  spec.env = { ...spec.env, ...(c?.env ?? {}) };
  return spec;
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
