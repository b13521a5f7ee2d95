// A generic command agent: any executable. It runs in the task's worktree with the
// task prompt on stdin and ORCH_PROMPT_FILE / ORCH_SYSTEM_PROMPT_FILE in its
// environment; whatever it prints is its answer (the JSON answer anywhere in it).
import { clip, emptyRun } from './events.js';
import type { AgentAdapter, AgentRun, AgentSpec, Invocation, LiveEvent, PromptFiles } from './types.js';

export const commandAdapter: AgentAdapter = {
  kind: 'command',
  invocation(spec: AgentSpec, prompts: PromptFiles, model: string): Invocation {
    return {
      argv: [spec.command, ...spec.args],
      stdinFile: prompts.promptFile,
      env: { ...spec.env, ORCH_PROMPT_FILE: prompts.promptFile, ORCH_SYSTEM_PROMPT_FILE: prompts.systemPromptFile, ORCH_MODEL: model || spec.defaultModel || '' },
    };
  },
  parseOutput(stdout: string): AgentRun {
    return { ...emptyRun(), text: stdout };
  },
  liveEvent(line: string): LiveEvent | undefined {
    return line.trim() ? { kind: 'text', text: clip(line) } : undefined;
  },
  // Never run an arbitrary command just to learn its version: it may do real work.
  version: async () => '',
};
