// The agent adapter contract: how one agent CLI is invoked headless and how its
// output is read back. Adapters are pure (no processes): the runner script runs
// the invocation inside tmux, the session hands the captured stdout to parseOutput.

export interface AgentSpec {
  /** The name tasks use (`--agent NAME`, `agents.<name>` in config). */
  name: string;
  /** Which adapter drives it. */
  kind: string;
  /** Binary: a path or a name on PATH. */
  command: string;
  /** Extra arguments placed before the adapter's own (command agents: all of them). */
  args: string[];
  /** Extra environment (may hold secrets: delivered through a FIFO, never argv). */
  env: Record<string, string>;
  permissionMode?: string;
  allowedTools?: string[];
  disallowedTools?: string[];
}

export interface PromptFiles {
  systemPromptFile: string;
  promptFile: string;
}

export interface Invocation {
  argv: string[];
  /** File fed to the agent's stdin (the task prompt), if any. */
  stdinFile?: string;
  env: Record<string, string>;
}

/** What an agent run produced, read from its stdout. */
export interface AgentRun {
  /** The agent's final text (where the JSON answer is). */
  text: string;
  isError: boolean;
  errorText?: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  costUsd: number;
  sessionId?: string;
}

export interface AgentAdapter {
  readonly kind: string;
  invocation(spec: AgentSpec, prompts: PromptFiles, model: string): Invocation;
  parseOutput(stdout: string): AgentRun;
  /** The installed version, from `<binary> --version`. */
  version(binary: string): Promise<string>;
}
