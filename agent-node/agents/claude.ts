// Claude Code headless: `claude -p --output-format stream-json --verbose`, the task
// prompt on stdin, orch's system prompt appended from a file. Also drives Claude-API
// compatible agents (the kimi and minimax profiles) that only differ by endpoint and env.
import { classOfHttpStatus } from '../errors.js';
import { clip, emptyRun, jsonEvent, jsonEvents, num } from './events.js';
import type { AgentAdapter, AgentRun, AgentSpec, Invocation, LiveEvent, PromptFiles, TokenUsage } from './types.js';
import { versionOf } from './version.js';

/** Claude Code's `error` field on a synthetic assistant message -> orch's class. */
const ERROR_FIELD: Record<string, string> = {
  rate_limit: 'RateLimit', authentication_failed: 'Auth', billing_error: 'RateLimit', invalid_request: 'InvalidResponse',
  model_not_found: 'ModelUnavailable', server_error: 'NetworkError', overloaded: 'RateLimit',
};

export const claudeAdapter: AgentAdapter = {
  kind: 'claude',

  invocation(spec: AgentSpec, prompts: PromptFiles, model: string): Invocation {
    const mode = spec.permissionMode ?? 'bypassPermissions';
    const argv = [spec.command, ...spec.args, '-p', '--output-format', 'stream-json', '--verbose',
      '--append-system-prompt-file', prompts.systemPromptFile, '--permission-mode', mode];
    const m = model || spec.defaultModel;
    if (m) argv.push('--model', m);
    if (spec.allowedTools?.length) argv.push('--allowedTools', spec.allowedTools.join(','));
    if (spec.disallowedTools?.length) argv.push('--disallowedTools', spec.disallowedTools.join(','));
    const env: Record<string, string> = {
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      ...spec.env,
    };
    // Claude Code refuses bypassPermissions as root unless told it runs in a sandbox;
    // the user chose that mode in config, so say so on their behalf.
    if (mode === 'bypassPermissions' && process.getuid?.() === 0 && env.IS_SANDBOX === undefined) env.IS_SANDBOX = '1';
    return { argv, stdinFile: prompts.promptFile, env };
  },

  parseOutput(stdout: string): AgentRun {
    const run = emptyRun();
    let result: any;
    let lastAssistantText = '';
    let errorField: string | undefined;
    let lastRetryStatus: number | undefined;
    for (const ev of jsonEvents(stdout)) {
      if (ev.type === 'assistant' && Array.isArray(ev.message?.content)) {
        const t = ev.message.content.filter((c: any) => c?.type === 'text').map((c: any) => String(c.text ?? '')).join('');
        if (t) lastAssistantText = t;
        if (typeof ev.error === 'string') errorField = ev.error;
      } else if (ev.type === 'system' && ev.subtype === 'api_retry') {
        lastRetryStatus = typeof ev.error_status === 'number' ? ev.error_status : lastRetryStatus;
      } else if (ev.type === 'system' && ev.subtype === 'init' && typeof ev.session_id === 'string') {
        run.sessionId = ev.session_id;
      } else if (ev.type === 'result') {
        result = ev;
      }
    }
    if (!result) {
      run.text = lastAssistantText;
      run.isError = true;
      run.errorText = 'Claude Code ended without a result event';
      if (lastRetryStatus !== undefined) run.errorClass = classOfHttpStatus(lastRetryStatus);
      return run;
    }
    run.text = typeof result.result === 'string' ? result.result : lastAssistantText;
    run.isError = result.is_error === true || (typeof result.subtype === 'string' && result.subtype.startsWith('error'));
    if (typeof result.session_id === 'string') run.sessionId = result.session_id;
    Object.assign(run, usageOf(result));
    if (typeof result.total_cost_usd === 'number') run.costUsd = result.total_cost_usd;
    if (result.modelUsage && typeof result.modelUsage === 'object') {
      run.models = {};
      for (const [name, u] of Object.entries<any>(result.modelUsage)) {
        run.models[name] = {
          inputTokens: num(u?.inputTokens), cacheReadTokens: num(u?.cacheReadInputTokens),
          cacheWriteTokens: num(u?.cacheCreationInputTokens), outputTokens: num(u?.outputTokens),
          ...(typeof u?.costUSD === 'number' ? { costUsd: u.costUSD } : {}),
        };
      }
      // modelUsage covers every model the run used (side requests too): it is the total when present.
      const models = Object.values(run.models);
      if (models.length) for (const k of ['inputTokens', 'cacheReadTokens', 'cacheWriteTokens', 'outputTokens'] as const) run[k] = models.reduce((s, u) => s + u[k], 0);
    }
    if (run.isError) {
      run.errorText = typeof result.result === 'string' && result.result ? result.result : String(result.subtype ?? 'error');
      run.errorClass = result.terminal_reason === 'prompt_too_long' ? 'ContextOverflow'
        : (typeof result.api_error_status === 'number' ? classOfHttpStatus(result.api_error_status) : undefined)
          ?? (errorField ? ERROR_FIELD[errorField] : undefined)
          ?? (result.subtype === 'error_max_turns' ? 'AgentFailed' : undefined);
    }
    return run;
  },

  liveEvent(line: string): LiveEvent | undefined {
    const ev = jsonEvent(line);
    if (!ev) return undefined;
    if (ev.type === 'system' && ev.subtype === 'init') return { kind: 'start', text: `session ${ev.session_id ?? ''} model ${ev.model ?? ''}`.trim() };
    if (ev.type === 'system' && ev.subtype === 'api_retry') return { kind: 'error', text: `API retry ${ev.attempt}/${ev.max_retries}: ${ev.error_status ?? ''} ${ev.error ?? ''}`.trim() };
    if (ev.type === 'assistant' && Array.isArray(ev.message?.content)) {
      const tool = ev.message.content.find((c: any) => c?.type === 'tool_use');
      if (tool) return { kind: 'tool', text: `${tool.name} ${clip(JSON.stringify(tool.input ?? {}), 120)}` };
      const t = ev.message.content.filter((c: any) => c?.type === 'text').map((c: any) => c.text).join('');
      if (t) return { kind: ev.error ? 'error' : 'text', text: clip(t) };
    }
    if (ev.type === 'result') return { kind: ev.is_error ? 'error' : 'result', text: clip(typeof ev.result === 'string' ? ev.result : String(ev.subtype ?? '')) };
    return undefined;
  },

  version: (binary) => versionOf(binary),
};

function usageOf(result: any): TokenUsage {
  const u = result.usage ?? {};
  return {
    inputTokens: num(u.input_tokens), cacheReadTokens: num(u.cache_read_input_tokens),
    cacheWriteTokens: num(u.cache_creation_input_tokens), outputTokens: num(u.output_tokens),
  };
}
