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
  /** Model used when the task names none (profiles such as kimi/minimax). */
  defaultModel?: string;
  /** Extra environment (may hold secrets: delivered through a FIFO, never argv). */
  env: Record<string, string>;
  permissionMode?: string;
  allowedTools?: string[];
  disallowedTools?: string[];
  /** Codex: `-s` sandbox mode (read-only | workspace-write | danger-full-access) or 'bypass'. */
  sandbox?: string;
  /** Codex: run outside a git repository. */
  skipGitRepoCheck?: boolean;
}

export interface PromptFiles {
  systemPromptFile: string;
  promptFile: string;
}

export interface Invocation {
  argv: string[];
  /** File fed to the agent's stdin (the task prompt), if any. */
  stdinFile?: string;
  /** Files concatenated onto the agent's stdin instead (system prompt + task prompt, for CLIs without a system-prompt option). */
  stdinFiles?: string[];
  env: Record<string, string>;
}

/**
 * Tokens of one attempt, one convention for every agent: `inputTokens` are prompt tokens
 * NOT read from cache; cache reads and cache writes are counted apart; output as reported.
 */
export interface TokenUsage {
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
}

/** What an agent run produced, read from its stdout. */
export interface AgentRun extends TokenUsage {
  /** The agent's final text (where the JSON answer is). */
  text: string;
  isError: boolean;
  errorText?: string;
  /** Error class read from the agent's own structured events (see agent-node/errors.ts), when it told. */
  errorClass?: string;
  /** Seconds the provider asked to wait (retry-after), when the agent showed it. */
  retryAfterSeconds?: number;
  /** The agent's own cost in USD; undefined when it reports none (orch prices the tokens then). */
  costUsd?: number;
  sessionId?: string;
  /** Per-model usage when the agent reports it (Claude Code's modelUsage). */
  models?: Record<string, TokenUsage & { costUsd?: number }>;
}

/** One line of live output, read for status (`orch stream`, silence watch). */
export interface LiveEvent {
  kind: 'start' | 'text' | 'tool' | 'usage' | 'error' | 'result';
  text: string;
}

export interface AgentAdapter {
  readonly kind: string;
  invocation(spec: AgentSpec, prompts: PromptFiles, model: string): Invocation;
  parseOutput(stdout: string): AgentRun;
  /** One line of the live stream as a status event (undefined: nothing to show). */
  liveEvent(line: string): LiveEvent | undefined;
  /** The installed version, from `<binary> --version`. */
  version(binary: string): Promise<string>;
}
