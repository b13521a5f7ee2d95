// A generic command agent: any executable. It runs in the task's worktree with the
// task prompt on stdin and ORCH_PROMPT_FILE / ORCH_SYSTEM_PROMPT_FILE in its
// environment; whatever it prints is its answer (the JSON answer anywhere in it).
import type { AgentAdapter, AgentRun, AgentSpec, Invocation, PromptFiles } from './types.js';

export const commandAdapter: AgentAdapter = {
  kind: 'command',
  invocation(spec: AgentSpec, prompts: PromptFiles, model: string): Invocation {
    return {
      argv: [spec.command, ...spec.args],
      stdinFile: prompts.promptFile,
      env: { ...spec.env, ORCH_PROMPT_FILE: prompts.promptFile, ORCH_SYSTEM_PROMPT_FILE: prompts.systemPromptFile, ORCH_MODEL: model },
    };
  },
  parseOutput(stdout: string): AgentRun {
    return { text: stdout, isError: false, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, costUsd: 0 };
  },
  // Never run an arbitrary command just to learn its version: it may do real work.
  version: async () => '',
};
