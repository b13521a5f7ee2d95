// OpenAI Codex CLI headless: `codex exec --json -m MODEL -s workspace-write -`, orch's
// system prompt and the task prompt together on stdin (exec has no system-prompt option).
// The user's CODEX_HOME/config.toml (model_providers, auth) applies through the agent's env.
import { classOfHttpStatus } from '../errors.js';
import { clip, emptyRun, jsonEvent, jsonEvents, num } from './events.js';
import type { AgentAdapter, AgentRun, AgentSpec, Invocation, LiveEvent, PromptFiles } from './types.js';
import { versionOf } from './version.js';

export const SANDBOX_MODES = ['read-only', 'workspace-write', 'danger-full-access', 'bypass'] as const;

export const codexAdapter: AgentAdapter = {
  kind: 'codex',

  invocation(spec: AgentSpec, prompts: PromptFiles, model: string): Invocation {
    const sandbox = spec.sandbox ?? 'workspace-write';
    const argv = [spec.command, ...spec.args, 'exec', '--json'];
    const m = model || spec.defaultModel;
    if (m) argv.push('-m', m);
    // 'bypass' is the user's explicit choice of no sandbox and no approvals (e.g. inside a container).
    if (sandbox === 'bypass') argv.push('--dangerously-bypass-approvals-and-sandbox');
    else argv.push('-s', sandbox);
    if (spec.skipGitRepoCheck) argv.push('--skip-git-repo-check');
    argv.push('-');
    return { argv, stdinFiles: [prompts.systemPromptFile, prompts.promptFile], env: { ...spec.env } };
  },

  parseOutput(stdout: string): AgentRun {
    const run = emptyRun();
    let lastMessage = '';
    let failure: string | undefined;
    let completed = false;
    for (const ev of jsonEvents(stdout)) {
      switch (ev.type) {
        case 'thread.started':
          if (typeof ev.thread_id === 'string') run.sessionId = ev.thread_id;
          break;
        case 'item.completed':
          // An `error` item is a warning (e.g. unknown model metadata): the turn goes on.
          if (ev.item?.type === 'agent_message' && typeof ev.item.text === 'string') lastMessage = ev.item.text;
          break;
        case 'turn.completed': {
          // One usage per turn; input_tokens includes the cached ones.
          const u = ev.usage ?? {};
          const cached = num(u.cached_input_tokens);
          run.inputTokens += Math.max(0, num(u.input_tokens) - cached);
          run.cacheReadTokens += cached;
          run.cacheWriteTokens += num(u.cache_write_input_tokens);
          run.outputTokens += num(u.output_tokens);
          completed = true;
          failure = undefined;
          break;
        }
        case 'turn.failed':
          failure = String(ev.error?.message ?? 'the turn failed');
          break;
        case 'error':
          failure ??= String(ev.message ?? 'error');
          break;
      }
    }
    run.text = lastMessage;
    if (failure !== undefined) {
      run.isError = true;
      run.errorText = failure;
      run.errorClass = codexErrorClass(failure);
    } else if (!completed) {
      run.isError = true;
      run.errorText = 'Codex ended before its turn completed';
    } else if (!lastMessage) {
      run.isError = true;
      run.errorText = 'Codex ended without an agent message';
    }
    return run;
  },

  liveEvent(line: string): LiveEvent | undefined {
    const ev = jsonEvent(line);
    if (!ev) return undefined;
    const item = ev.item;
    switch (ev.type) {
      case 'thread.started': return { kind: 'start', text: `thread ${ev.thread_id ?? ''}`.trim() };
      case 'item.started':
      case 'item.completed':
        if (item?.type === 'command_execution') return { kind: 'tool', text: `${ev.type === 'item.started' ? 'run' : `done (${item.exit_code})`} ${clip(String(item.command ?? ''), 120)}` };
        if (item?.type === 'file_change') return { kind: 'tool', text: `edit ${clip((item.changes ?? []).map((c: any) => c.path).join(', '), 120)}` };
        if (ev.type === 'item.completed' && item?.type === 'agent_message') return { kind: 'text', text: clip(String(item.text ?? '')) };
        if (ev.type === 'item.completed' && item?.type === 'error') return { kind: 'error', text: clip(String(item.message ?? '')) };
        return undefined;
      case 'turn.completed': return { kind: 'usage', text: `tokens in ${num(ev.usage?.input_tokens)} (cached ${num(ev.usage?.cached_input_tokens)}) out ${num(ev.usage?.output_tokens)}` };
      case 'turn.failed': return { kind: 'error', text: clip(String(ev.error?.message ?? 'turn failed')) };
      case 'error': return { kind: 'error', text: clip(String(ev.message ?? 'error')) };
    }
    return undefined;
  },

  version: (binary) => versionOf(binary),
};

/** Codex prints the provider's failure as text in a structured event: read the status it names first. */
export function codexErrorClass(message: string): string | undefined {
  if (/context window|context_length_exceeded|ran out of room/i.test(message)) return 'ContextOverflow';
  const status = /\b(?:status:?|status code)\s*(\d{3})\b/i.exec(message) ?? /\b(\d{3}) (?:Too Many Requests|Unauthorized|Forbidden|Not Found|Bad Gateway|Service Unavailable|Gateway Timeout|Internal Server Error)\b/.exec(message);
  if (status) return classOfHttpStatus(Number(status[1])) ?? 'AgentFailed';
  if (/usage limit|quota|rate limit/i.test(message)) return 'RateLimit';
  if (/stream disconnected|error sending request|connection (refused|reset)/i.test(message)) return 'NetworkError';
  if (/model .*(not found|does not exist|not supported)/i.test(message)) return 'ModelUnavailable';
  return undefined;
}
