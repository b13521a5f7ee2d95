// OpenCode headless: `opencode run --format json [-m provider/model]`, orch's system prompt
// and the task prompt on stdin. The user's OPENCODE_CONFIG applies through the agent's env;
// orch keeps OpenCode off the network for updates and model lists.
import { classOfHttpStatus } from '../errors.js';
import { clip, emptyRun, jsonEvent, jsonEvents, num, retryAfterSeconds } from './events.js';
import type { AgentAdapter, AgentRun, AgentSpec, Invocation, LiveEvent, PromptFiles } from './types.js';
import { versionOf } from './version.js';

export const opencodeAdapter: AgentAdapter = {
  kind: 'opencode',

  invocation(spec: AgentSpec, prompts: PromptFiles, model: string): Invocation {
    const argv = [spec.command, ...spec.args, 'run', '--format', 'json'];
    const m = model || spec.defaultModel;
    if (m) argv.push('-m', m);
    // Unattended: approve what config does not deny, as Claude Code's bypassPermissions does.
    if ((spec.permissionMode ?? 'bypassPermissions') === 'bypassPermissions') argv.push('--auto');
    return {
      argv,
      stdinFiles: [prompts.systemPromptFile, prompts.promptFile],
      env: { OPENCODE_DISABLE_AUTOUPDATE: '1', OPENCODE_DISABLE_MODELS_FETCH: '1', ...spec.env },
    };
  },

  parseOutput(stdout: string): AgentRun {
    const run = emptyRun();
    const texts: string[] = [];
    let cost = 0;
    let sawCost = false;
    let error: any;
    for (const ev of jsonEvents(stdout)) {
      if (typeof ev.sessionID === 'string') run.sessionId ??= ev.sessionID;
      const part = ev.part ?? {};
      switch (ev.type) {
        case 'text':
          if (typeof part.text === 'string') texts.push(part.text);
          break;
        case 'step_finish': {
          // One per model request: tokens.input excludes cache reads.
          const t = part.tokens ?? {};
          run.inputTokens += num(t.input);
          run.outputTokens += num(t.output) + num(t.reasoning);
          run.cacheReadTokens += num(t.cache?.read);
          run.cacheWriteTokens += num(t.cache?.write);
          if (typeof part.cost === 'number') { cost += part.cost; sawCost = true; }
          break;
        }
        case 'error':
          error = ev.error ?? { name: 'UnknownError', data: { message: 'error' } };
          break;
      }
    }
    if (sawCost) run.costUsd = cost;
    // The answer is the last text part (earlier ones are narration between tool calls).
    run.text = texts.at(-1) ?? '';
    if (error) {
      run.isError = true;
      const data = error.data ?? {};
      run.errorText = `${error.name ?? 'Error'}: ${data.message ?? ''}`.trim();
      run.errorClass = opencodeErrorClass(error);
      const h = data.responseHeaders ?? {};
      const ms = Number(h['retry-after-ms']);
      const ra = Number.isFinite(ms) && h['retry-after-ms'] !== undefined ? Math.max(0, ms / 1000) : retryAfterSeconds(h['retry-after']);
      if (ra !== undefined) run.retryAfterSeconds = ra;
    } else if (!texts.length) {
      run.isError = true;
      run.errorText = 'OpenCode ended without a text answer';
    }
    return run;
  },

  liveEvent(line: string): LiveEvent | undefined {
    const ev = jsonEvent(line);
    if (!ev) return undefined;
    const part = ev.part ?? {};
    switch (ev.type) {
      case 'step_start': return { kind: 'start', text: `step (session ${ev.sessionID ?? ''})` };
      case 'text': return { kind: 'text', text: clip(String(part.text ?? '')) };
      case 'tool_use': return { kind: 'tool', text: `${part.tool ?? 'tool'} ${part.state?.status ?? ''} ${clip(String(part.state?.title ?? ''), 120)}`.trim() };
      case 'step_finish': return { kind: 'usage', text: `tokens in ${num(part.tokens?.input)} cache ${num(part.tokens?.cache?.read)} out ${num(part.tokens?.output)} cost ${num(part.cost)}` };
      case 'error': return { kind: 'error', text: clip(`${ev.error?.name ?? 'Error'}: ${ev.error?.data?.message ?? ''}`) };
    }
    return undefined;
  },

  version: (binary) => versionOf(binary),
};

export function opencodeErrorClass(error: any): string | undefined {
  const name = String(error?.name ?? '');
  const data = error?.data ?? {};
  if (name === 'ContextOverflowError') return 'ContextOverflow';
  if (name === 'ProviderAuthError') return 'Auth';
  if (name === 'ProviderModelNotFoundError' || name === 'ModelNotFoundError') return 'ModelUnavailable';
  if (name === 'APIError' && typeof data.statusCode === 'number') return classOfHttpStatus(data.statusCode) ?? 'AgentFailed';
  if (name === 'MessageAbortedError') return 'AgentFailed';
  return undefined;
}
