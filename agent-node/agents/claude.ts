// Claude Code headless: `claude -p --output-format stream-json --verbose`, the task
// prompt on stdin, orch's system prompt appended from a file. Also drives Claude-API
// compatible agents (kimi, minimax) that only differ by endpoint and env.
import type { AgentAdapter, AgentRun, AgentSpec, Invocation, PromptFiles } from './types.js';
import { versionOf } from './version.js';

export const claudeAdapter: AgentAdapter = {
  kind: 'claude',

  invocation(spec: AgentSpec, prompts: PromptFiles, model: string): Invocation {
    const mode = spec.permissionMode ?? 'bypassPermissions';
    const argv = [spec.command, ...spec.args, '-p', '--output-format', 'stream-json', '--verbose',
      '--append-system-prompt-file', prompts.systemPromptFile, '--permission-mode', mode];
    if (model) argv.push('--model', model);
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
    const run: AgentRun = { text: '', isError: false, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, costUsd: 0 };
    let sawResult = false;
    let lastAssistantText = '';
    for (const line of stdout.split('\n')) {
      const l = line.trim();
      if (!l.startsWith('{')) continue;
      let ev: any;
      try {
        ev = JSON.parse(l);
      } catch {
        continue; // a partial line (killed mid-write) or noise
      }
      if (ev?.type === 'assistant' && Array.isArray(ev.message?.content)) {
        const t = ev.message.content.filter((c: any) => c?.type === 'text').map((c: any) => String(c.text ?? '')).join('');
        if (t) lastAssistantText = t;
      } else if (ev?.type === 'result') {
        sawResult = true;
        run.text = typeof ev.result === 'string' ? ev.result : lastAssistantText;
        run.isError = ev.is_error === true || (typeof ev.subtype === 'string' && ev.subtype.startsWith('error'));
        if (run.isError) run.errorText = typeof ev.result === 'string' && ev.result ? ev.result : String(ev.subtype ?? 'error');
        const u = ev.usage ?? {};
        run.inputTokens = num(u.input_tokens) + num(u.cache_creation_input_tokens) + num(u.cache_read_input_tokens);
        run.outputTokens = num(u.output_tokens);
        run.cacheReadTokens = num(u.cache_read_input_tokens);
        run.costUsd = num(ev.total_cost_usd);
        run.sessionId = typeof ev.session_id === 'string' ? ev.session_id : undefined;
      }
    }
    if (!sawResult) {
      run.text = lastAssistantText;
      run.isError = true;
      run.errorText = 'Claude Code ended without a result event';
    }
    return run;
  },

  version: (binary) => versionOf(binary),
};

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
