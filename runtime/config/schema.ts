// The config schema: types, defaults, and validation of one parsed YAML document.
// Keys are snake_case exactly as written in config.yml / .orch.yml (the Rust orch's format).

export type AgentKind = 'claude' | 'codex' | 'opencode' | 'command';

export interface AgentConfig {
  /** Which adapter runs it (default from the name: claude/codex/opencode; kimi/minimax -> claude; else command). */
  kind?: AgentKind;
  /** Binary path or name on PATH (default: the kind's binary). */
  command?: string;
  /** Extra arguments (command agents). */
  args?: string[];
  /** Extra environment for the agent process (secret-capable; `${VAR}` expands from orch's environment). */
  env?: Record<string, string>;
  /** Claude Code permission mode: bypassPermissions (default), acceptEdits, default, plan. */
  permission_mode?: string;
  allowed_tools?: string[];
  disallowed_tools?: string[];
  models?: string[];
  /** Model used when model_map names none for this agent. */
  model?: string;
  /** Claude-kind profiles (kimi, minimax, or your own): Anthropic-compatible endpoint, the variable holding its key, the model for side requests. */
  base_url?: string;
  api_key_env?: string;
  small_model?: string;
  /** Codex: sandbox mode (read-only, workspace-write, danger-full-access) or bypass (no sandbox, no approvals). */
  sandbox?: 'read-only' | 'workspace-write' | 'danger-full-access' | 'bypass';
  /** Codex: allow running outside a git repository. */
  skip_git_repo_check?: boolean;
  /** false removes the agent from routing. */
  enabled?: boolean;
  timeout_seconds?: number;
}

export interface OrchConfig {
  /** Project registry (paths); informational, `orch project add` is the source of truth. */
  projects: string[];
  /** Projects whose .orch.yml may expand ${VAR} from the coordinator's environment. */
  trusted_projects?: string[];
  workflow: {
    auto_close: boolean;
    review_owner?: string;
    enable_review_agent: boolean;
    /** The agent that reviews PRs (default: a fleet agent other than the task's). */
    review_agent?: string;
    /** How long a review agent may take (default 600). */
    review_timeout_seconds?: number;
    /** Attempts before a task goes to needs_review. */
    max_attempts: number;
    /** Wall-clock limit of one attempt. */
    timeout_seconds: number;
    /** First delay before retrying a failed attempt (doubles per attempt, capped at 120 s). */
    retry_delay_seconds: number;
    /** An agent that prints nothing this long is stopped and its attempt classified. */
    silence_seconds: number;
    /** First cooldown of an agent/model after a rate limit (doubles per repeat, capped at 6 h). */
    cooldown_seconds: number;
    /** Merge an approved PR with green checks (squash, branch deleted); the task is then done. */
    auto_merge: boolean;
    /** Times failing CI sends a task back to its agent before it needs review. */
    max_ci_fixes: number;
  };
  /** USD per million tokens, by `agent/model`, `model` or `agent` (first match), used when an agent reports no cost. */
  pricing: Record<string, Price>;
  router: {
    /** llm or round_robin; unset: llm while router.agent is set and some live node has it, else round_robin. */
    mode?: 'llm' | 'round_robin';
    /** The agent that routes (mode llm). */
    agent?: string;
    /** Its model ('' = the agent's default; a cheap, fast one is the point). */
    model?: string;
    /** How long one routing call may take. */
    timeout_seconds?: number;
    /** Where a task goes when the router fails or picks an agent that is missing or cooling down. */
    fallback_executor?: string;
    /** Routing calls per task before falling back (default 2). */
    max_tries?: number;
    /** Round-robin weights per agent (default 1; 0 = only when named). */
    weights?: Record<string, number>;
  };
  /** model_map[tier][agent] = model or list of models. */
  model_map: Record<string, Record<string, string | string[]>>;
  agents: Record<string, AgentConfig>;
  git: { name: string; email: string };
  gh: {
    /** owner/repo this project syncs with (in the project's .orch.yml). */
    repo?: string;
    auth?: { token?: string };
    /** Ask `gh auth token` when no token is set (default true). */
    allow_gh_fallback?: boolean;
    /** REST base URL (GitHub Enterprise: https://HOST/api/v3); GraphQL at <api_url>/graphql. */
    api_url: string;
    /** token (default) or github_app. */
    token_mode?: 'token' | 'github_app';
    app_id?: string;
    private_key_path?: string;
    /** Installation of the app on gh.repo (default: looked up). */
    installation_id?: string;
    /** Secret GitHub signs webhooks with (x-hub-signature-256). */
    webhook_secret?: string;
    /** Polling interval, the safety net under webhooks. */
    poll_seconds: number;
    /** Only issues with one of these labels become tasks (default: every open issue). */
    intake_labels?: string[];
    /** Pause between write requests (GitHub asks for about one second). */
    write_interval_ms: number;
    /** A GitHub request with no answer this long fails (and is retried as a network error). */
    request_timeout_seconds?: number;
    project_id?: string;
    project_status_field_id?: string;
    /** Board column (backlog, in_progress, review, done) -> Status option name or id. */
    project_status_map?: Record<string, string>;
  };
  github?: { token_mode?: string; app_id?: string; private_key_path?: string; installation_id?: string };
  /** The coordinator's HTTP server (webhooks, health); off when unset. */
  http: { listen?: string };
  /** Tools a node must have to run this project's tasks. */
  required_tools: string[];
  jobs: unknown[];
  /** OpenTelemetry (the standard OTEL_* variables win): on when an endpoint is set. */
  telemetry?: { endpoint?: string; protocol?: 'http/protobuf' | 'http/json' | 'grpc'; service_name?: string };
  /** Coordinator gRPC address. */
  server: { listen: string };
  /** PostgreSQL server; unset = embedded. */
  database: { url?: string };
  /** nats-server; unset = in-process bus. */
  nats: { url?: string; token?: string; user?: string; password?: string; creds?: string; tls_ca?: string };
  cluster: {
    /** Token nodes and CLIs present to the coordinator (the secret part of the join token). */
    token?: string;
    /** A second token that may only read (status, lists, stream, cost, metrics). */
    read_token?: string;
    /** How often a node heartbeats. */
    heartbeat_seconds: number;
    /** Silence after which a node counts as lost. */
    node_timeout_seconds: number;
    /** An attempt no node has started this long after assignment is lost and re-queued. */
    assign_timeout_seconds: number;
    /** A node stopped gracefully (SIGTERM) keeps its running attempts this long for its next start. */
    restart_grace_seconds: number;
    /** A standby coordinator takes over within this long after the leader dies. */
    failover_seconds: number;
    /**
     * A bash job run's reply may come this long past its timeout (its checkout comes first);
     * a run still unanswered after that (its coordinator restarted) counts as lost. Default 120.
     */
    bash_job_grace_seconds?: number;
  };
  /** coordinator: the coordinator's HOST:PORT[,HOST:PORT] for `orch node start` (what `orch node deploy` writes). */
  node: { name?: string; slots: number; labels: string[]; tools: string[]; coordinator?: string };
  tmux: { socket: string };
  log: { level: 'debug' | 'info' | 'warn' | 'error' };
  /** `orch chat`: which agent/model answers (default router.agent, else the first available agent). */
  chat?: { agent?: string; model?: string; timeout_seconds?: number };
}

export interface Price {
  input: number;
  output: number;
  cache_read?: number;
  cache_write?: number;
}

/** Shipped prices (USD per million tokens; approximate public list prices, not verified here): `pricing:` in config overrides any of them. */
export const DEFAULT_PRICING: Record<string, Price> = {
  'claude/opus': { input: 15, output: 75, cache_read: 1.5, cache_write: 18.75 },
  'claude/sonnet': { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
  'claude/haiku': { input: 1, output: 5, cache_read: 0.1, cache_write: 1.25 },
  'gpt-5.1-codex': { input: 1.25, output: 10, cache_read: 0.125 },
  'gpt-5.1-codex-mini': { input: 0.25, output: 2, cache_read: 0.025 },
  'gpt-5.1-codex-max': { input: 1.25, output: 10, cache_read: 0.125 },
  'kimi-k2-0905-preview': { input: 0.6, output: 2.5, cache_read: 0.15 },
  'kimi-k2-turbo-preview': { input: 1.15, output: 8, cache_read: 0.15 },
  'kimi-k2-thinking': { input: 0.6, output: 2.5, cache_read: 0.15 },
  'MiniMax-M2': { input: 0.3, output: 1.2, cache_read: 0.03, cache_write: 0.375 },
};

export function defaultConfig(): OrchConfig {
  return {
    projects: [],
    workflow: { auto_close: true, enable_review_agent: false, max_attempts: 5, timeout_seconds: 1800, retry_delay_seconds: 10, silence_seconds: 300, cooldown_seconds: 300, auto_merge: false, max_ci_fixes: 3 },
    pricing: { ...DEFAULT_PRICING },
    router: {},
    model_map: {
      simple: { claude: 'haiku', codex: 'gpt-5.1-codex-mini', kimi: 'kimi-k2-turbo-preview', minimax: 'MiniMax-M2' },
      medium: { claude: 'sonnet', codex: 'gpt-5.1-codex', kimi: 'kimi-k2-0905-preview', minimax: 'MiniMax-M2' },
      complex: { claude: 'opus', codex: 'gpt-5.1-codex-max', kimi: 'kimi-k2-thinking', minimax: 'MiniMax-M2' },
      review: { claude: 'sonnet', codex: 'gpt-5.1-codex', kimi: 'kimi-k2-0905-preview', minimax: 'MiniMax-M2' },
    },
    agents: {},
    git: { name: 'orch[bot]', email: 'orch@localhost' },
    gh: { api_url: 'https://api.github.com', poll_seconds: 60, write_interval_ms: 1000 },
    http: {},
    required_tools: [],
    jobs: [],
    server: { listen: '127.0.0.1:0' },
    database: {},
    nats: {},
    cluster: { heartbeat_seconds: 2, node_timeout_seconds: 10, assign_timeout_seconds: 600, restart_grace_seconds: 60, failover_seconds: 10 },
    node: { slots: 4, labels: [], tools: [] },
    tmux: { socket: 'orch' },
    log: { level: 'info' },
  };
}

/** A rule for one key: how to check it. `*` in a path matches any map key. */
export type Rule =
  | { t: 'string' } | { t: 'bool' } | { t: 'posint' } | { t: 'posnum' } | { t: 'nonnegint' } | { t: 'nonnegnum' }
  | { t: 'enum'; of: string[] } | { t: 'strings' } | { t: 'stringmap' } | { t: 'map' } | { t: 'list' }
  | { t: 'model' } | { t: 'repo' };

export const RULES: Record<string, Rule> = {
  projects: { t: 'strings' },
  trusted_projects: { t: 'strings' },
  workflow: { t: 'map' },
  'workflow.auto_close': { t: 'bool' },
  'workflow.review_owner': { t: 'string' },
  'workflow.enable_review_agent': { t: 'bool' },
  'workflow.review_agent': { t: 'string' },
  'workflow.review_timeout_seconds': { t: 'posint' },
  'workflow.max_attempts': { t: 'posint' },
  'workflow.timeout_seconds': { t: 'posint' },
  'workflow.retry_delay_seconds': { t: 'nonnegint' },
  'workflow.silence_seconds': { t: 'posint' },
  'workflow.cooldown_seconds': { t: 'nonnegint' },
  pricing: { t: 'map' },
  'pricing.*': { t: 'map' },
  'pricing.*.input': { t: 'nonnegnum' },
  'pricing.*.output': { t: 'nonnegnum' },
  'pricing.*.cache_read': { t: 'nonnegnum' },
  'pricing.*.cache_write': { t: 'nonnegnum' },
  'workflow.auto_merge': { t: 'bool' },
  'workflow.max_ci_fixes': { t: 'nonnegint' },
  router: { t: 'map' },
  'router.mode': { t: 'enum', of: ['llm', 'round_robin'] },
  'router.agent': { t: 'string' },
  'router.model': { t: 'string' },
  'router.timeout_seconds': { t: 'posint' },
  'router.fallback_executor': { t: 'string' },
  'router.max_tries': { t: 'posint' },
  'router.weights': { t: 'map' },
  'router.weights.*': { t: 'nonnegint' },
  model_map: { t: 'map' },
  'model_map.*': { t: 'map' },
  'model_map.*.*': { t: 'model' },
  agents: { t: 'map' },
  'agents.*': { t: 'map' },
  'agents.*.kind': { t: 'enum', of: ['claude', 'codex', 'opencode', 'command'] },
  'agents.*.command': { t: 'string' },
  'agents.*.args': { t: 'strings' },
  'agents.*.env': { t: 'stringmap' },
  'agents.*.permission_mode': { t: 'enum', of: ['bypassPermissions', 'acceptEdits', 'default', 'plan', 'dontAsk'] },
  'agents.*.allowed_tools': { t: 'strings' },
  'agents.*.disallowed_tools': { t: 'strings' },
  'agents.*.models': { t: 'strings' },
  'agents.*.enabled': { t: 'bool' },
  'agents.*.model': { t: 'string' },
  'agents.*.base_url': { t: 'string' },
  'agents.*.api_key_env': { t: 'string' },
  'agents.*.small_model': { t: 'string' },
  'agents.*.sandbox': { t: 'enum', of: ['read-only', 'workspace-write', 'danger-full-access', 'bypass'] },
  'agents.*.skip_git_repo_check': { t: 'bool' },
  'agents.*.timeout_seconds': { t: 'posint' },
  'agents.*.permission': { t: 'map' },
  git: { t: 'map' },
  'git.name': { t: 'string' },
  'git.email': { t: 'string' },
  gh: { t: 'map' },
  'gh.repo': { t: 'repo' },
  'gh.auth': { t: 'map' },
  'gh.auth.token': { t: 'string' },
  'gh.allow_gh_fallback': { t: 'bool' },
  'gh.project_id': { t: 'string' },
  'gh.project_status_field_id': { t: 'string' },
  'gh.project_status_map': { t: 'stringmap' },
  'gh.api_url': { t: 'string' },
  'gh.token_mode': { t: 'enum', of: ['token', 'github_app'] },
  'gh.app_id': { t: 'string' },
  'gh.private_key_path': { t: 'string' },
  'gh.installation_id': { t: 'string' },
  'gh.webhook_secret': { t: 'string' },
  'gh.poll_seconds': { t: 'posnum' },
  'gh.intake_labels': { t: 'strings' },
  'gh.write_interval_ms': { t: 'nonnegint' },
  'gh.request_timeout_seconds': { t: 'posnum' },
  github: { t: 'map' },
  'github.token_mode': { t: 'enum', of: ['token', 'github_app'] },
  'github.app_id': { t: 'string' },
  'github.private_key_path': { t: 'string' },
  'github.installation_id': { t: 'string' },
  http: { t: 'map' },
  'http.listen': { t: 'string' },
  required_tools: { t: 'strings' },
  jobs: { t: 'list' },
  telemetry: { t: 'map' },
  'telemetry.endpoint': { t: 'string' },
  'telemetry.protocol': { t: 'enum', of: ['http/protobuf', 'http/json', 'grpc'] },
  'telemetry.service_name': { t: 'string' },
  server: { t: 'map' },
  'server.listen': { t: 'string' },
  database: { t: 'map' },
  'database.url': { t: 'string' },
  nats: { t: 'map' },
  'nats.url': { t: 'string' },
  'nats.token': { t: 'string' },
  'nats.user': { t: 'string' },
  'nats.password': { t: 'string' },
  'nats.creds': { t: 'string' },
  'nats.tls_ca': { t: 'string' },
  cluster: { t: 'map' },
  'cluster.token': { t: 'string' },
  'cluster.read_token': { t: 'string' },
  'cluster.heartbeat_seconds': { t: 'posnum' },
  'cluster.node_timeout_seconds': { t: 'posnum' },
  'cluster.assign_timeout_seconds': { t: 'posnum' },
  'cluster.restart_grace_seconds': { t: 'posnum' },
  'cluster.failover_seconds': { t: 'posnum' },
  'cluster.bash_job_grace_seconds': { t: 'posnum' },
  node: { t: 'map' },
  'node.name': { t: 'string' },
  'node.coordinator': { t: 'string' },
  'node.slots': { t: 'posint' },
  'node.labels': { t: 'strings' },
  'node.tools': { t: 'strings' },
  tmux: { t: 'map' },
  'tmux.socket': { t: 'string' },
  log: { t: 'map' },
  'log.level': { t: 'enum', of: ['debug', 'info', 'warn', 'error'] },
  chat: { t: 'map' },
  'chat.agent': { t: 'string' },
  'chat.model': { t: 'string' },
  'chat.timeout_seconds': { t: 'posint' },
};
