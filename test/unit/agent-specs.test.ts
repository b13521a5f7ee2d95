// From config to the command line and environment of each agent kind, the kimi/minimax
// profiles and their overrides, and the price table used when an agent reports no cost.
import { describe, expect, it } from 'vitest';
import { adapterFor } from '../../agent-node/agents/index.js';
import { agentSpec, configuredModels } from '../../agent-node/agents/spec.js';
import { mergeConfig, parseConfigText } from '../../runtime/config/load.js';
import { defaultConfig, type OrchConfig } from '../../runtime/config/schema.js';
import { costOf, priceFor } from '../../runtime/pricing.js';

const prompts = { systemPromptFile: '/a/prompt-sys.md', promptFile: '/a/prompt-msg.md' };
const config = (yaml: string): OrchConfig => mergeConfig(defaultConfig(), parseConfigText(yaml, 'config.yml').config);
const invoke = (name: string, cfg: OrchConfig, model = '', env: NodeJS.ProcessEnv = {}) => {
  const spec = agentSpec(name, cfg, env);
  return adapterFor(spec.kind).invocation(spec, prompts, model);
};

describe('codex invocation', () => {
  it('exec --json with the model, workspace-write sandbox, both prompts on stdin', () => {
    const inv = invoke('codex', config('agents: { codex: { env: { CODEX_HOME: /home/u/.codex-work } } }'), 'gpt-5.1-codex');
    expect(inv.argv).toEqual(['codex', 'exec', '--json', '-m', 'gpt-5.1-codex', '-s', 'workspace-write', '-']);
    expect(inv.stdinFiles).toEqual([prompts.systemPromptFile, prompts.promptFile]);
    expect(inv.env).toEqual({ CODEX_HOME: '/home/u/.codex-work' });
  });
  it('bypass and skip_git_repo_check from config; no -m when no model', () => {
    const inv = invoke('codex', config('agents: { codex: { sandbox: bypass, skip_git_repo_check: true, command: /opt/codex } }'));
    expect(inv.argv).toEqual(['/opt/codex', 'exec', '--json', '--dangerously-bypass-approvals-and-sandbox', '--skip-git-repo-check', '-']);
  });
  it('an unknown sandbox is a config error naming the key', () => {
    expect(() => config('agents:\n  codex:\n    sandbox: yolo\n')).toThrow(/config.yml:3.*agents\.codex\.sandbox.*read-only, workspace-write, danger-full-access, bypass/);
  });
});

describe('opencode invocation', () => {
  it('run --format json -m provider/model --auto, kept off the network, the user config honoured', () => {
    const inv = invoke('opencode', config('agents: { opencode: { env: { OPENCODE_CONFIG: /u/oc.json } } }'), 'fake/fake-model');
    expect(inv.argv).toEqual(['opencode', 'run', '--format', 'json', '-m', 'fake/fake-model', '--auto']);
    expect(inv.env).toEqual({ OPENCODE_DISABLE_AUTOUPDATE: '1', OPENCODE_DISABLE_MODELS_FETCH: '1', OPENCODE_CONFIG: '/u/oc.json' });
  });
  it('no --auto unless the permission mode bypasses', () => {
    expect(invoke('opencode', config('agents: { opencode: { permission_mode: default } }')).argv).not.toContain('--auto');
  });
});

describe('kimi and minimax profiles', () => {
  it('kimi: Claude Code against Moonshot, KIMI_API_KEY as ANTHROPIC_AUTH_TOKEN, its models', () => {
    const spec = agentSpec('kimi', config('agents: { kimi: {} }'), { KIMI_API_KEY: 'sk-kimi', ANTHROPIC_API_KEY: 'sk-ant' });
    expect(spec).toMatchObject({ kind: 'claude', command: 'claude', defaultModel: 'kimi-k2-0905-preview' });
    expect(spec.env).toMatchObject({
      ANTHROPIC_BASE_URL: 'https://api.moonshot.ai/anthropic', ANTHROPIC_AUTH_TOKEN: 'sk-kimi', ANTHROPIC_API_KEY: '',
      ANTHROPIC_SMALL_FAST_MODEL: 'kimi-k2-turbo-preview',
    });
    const inv = adapterFor('claude').invocation(spec, prompts, '');
    expect(inv.argv).toContain('kimi-k2-0905-preview');
  });
  it('minimax: its endpoint and key', () => {
    const spec = agentSpec('minimax', config('agents: { minimax: {} }'), { MINIMAX_API_KEY: 'mm' });
    expect(spec.env).toMatchObject({ ANTHROPIC_BASE_URL: 'https://api.minimax.io/anthropic', ANTHROPIC_AUTH_TOKEN: 'mm', ANTHROPIC_MODEL: 'MiniMax-M2' });
  });
  it('every field is overridable, a user-supplied binary included', () => {
    const spec = agentSpec('kimi', config(`
agents:
  kimi:
    command: /usr/local/bin/kimi-claude
    base_url: https://api.kimi.com/coding
    api_key_env: MY_KIMI
    model: kimi-k2-thinking
    small_model: kimi-k2-turbo-preview
    env: { ANTHROPIC_SMALL_FAST_MODEL: tiny }
`), { MY_KIMI: 'k2', KIMI_API_KEY: 'unused' });
    expect(spec.command).toBe('/usr/local/bin/kimi-claude');
    expect(spec.env).toMatchObject({ ANTHROPIC_BASE_URL: 'https://api.kimi.com/coding', ANTHROPIC_AUTH_TOKEN: 'k2', ANTHROPIC_MODEL: 'kimi-k2-thinking', ANTHROPIC_SMALL_FAST_MODEL: 'tiny' });
  });
  it('the default model_map names the providers\' models', () => {
    expect(configuredModels('kimi', defaultConfig())).toEqual(['kimi-k2-turbo-preview', 'kimi-k2-0905-preview', 'kimi-k2-thinking']);
    expect(configuredModels('minimax', defaultConfig())).toEqual(['MiniMax-M2']);
  });
});

describe('pricing', () => {
  const tokens = { inputTokens: 1_000_000, cacheReadTokens: 2_000_000, cacheWriteTokens: 0, outputTokens: 100_000 };
  it('agent/model, then model, then the longest name inside the model, then the agent', () => {
    const p = defaultConfig().pricing;
    expect(priceFor(p, 'claude', 'claude-sonnet-4-5')).toEqual(p['claude/sonnet']);
    expect(priceFor(p, 'codex', 'gpt-5.1-codex-mini')).toEqual(p['gpt-5.1-codex-mini']);
    expect(priceFor(p, 'codex', 'gpt-5.1-codex-mini-2026')).toEqual(p['gpt-5.1-codex-mini']);
    expect(priceFor(p, 'opencode', 'local/llama')).toBeUndefined();
    expect(priceFor({ opencode: { input: 1, output: 1 } }, 'opencode', 'local/llama')).toEqual({ input: 1, output: 1 });
  });
  it('costs USD per million tokens; unpriced cache falls back to the input price', () => {
    expect(costOf(tokens, { input: 1.25, output: 10, cache_read: 0.125 })).toBe(1.25 + 0.25 + 1);
    expect(costOf(tokens, { input: 2, output: 0 })).toBe(6);
  });
  it('a user price overrides a shipped one; a negative price is refused with its key', () => {
    expect(config('pricing: { gpt-5.1-codex: { input: 9, output: 9 } }').pricing['gpt-5.1-codex']).toEqual({ input: 9, output: 9, cache_read: 0.125 });
    expect(() => config('pricing:\n  x:\n    input: -1\n')).toThrow(/pricing\.x\.input/);
  });
});
