// Session: one attempt on this node, as a lifecycle of small steps:
// prepare (mirror, worktree) -> artifacts (prompts, runner.sh) -> launch (tmux) ->
// watch (output upload, exit) -> finish (parse answer, commit, push, result.json) -> report.
// attempt.json in the attempt directory lets a restarted node resume any step after launch.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Assignment, AttemptResult } from '../proto/gen/orch/v1/types.js';
import type { OrchConfig } from '../runtime/config/index.js';
import { logger } from '../runtime/log.js';
import type { OrchPaths } from '../runtime/paths.js';
import { redact, redactDeep } from '../runtime/redact.js';
import { trace, type Context, type Span } from '@opentelemetry/api';
import { carrierOf, contextOf, endWithError, telemetry, tracer } from '../runtime/telemetry/index.js';
import { adapterFor } from './agents/index.js';
import { agentSpec } from './agents/spec.js';
import { parseAgentAnswer } from './answer.js';
import { attemptCost, resultJson } from './attempt-report.js';
import { classifyFailure } from './errors.js';
import { branchProblem, projectNameProblem } from '../runtime/names.js';
import { LEASE_EXPIRED_EXIT, readExit, sq, stopAgent, writeRunnerScript } from './runner.js';
import { envScript, sessionName, writeFifo, type Tmux } from './tmux.js';
import { OutputUploader, type UploaderOptions } from './uploader.js';
import { commitAndPush, CommitError, ensureMirror, ensureWorktree, prepareSpare } from './worktree.js';

const log = logger('session');

/** gen_ai.provider.name by agent name or kind. */
const PROVIDERS: Record<string, string> = { claude: 'anthropic', codex: 'openai', kimi: 'moonshot_ai', minimax: 'minimax' };

export interface SessionDeps {
  node: string;
  paths: OrchPaths;
  config: OrchConfig;
  tmux: Tmux;
  uploadOutput: UploaderOptions['send'];
  /** May this attempt still push? Asked of the coordinator right before the push. */
  checkLease(a: Assignment): Promise<{ accepted: boolean; reason: string }>;
}

/** What a restarted node needs to pick an attempt up again. */
export interface SessionRecord {
  assignment: Assignment;
  dir: string;
  worktree: string;
  session: string;
  startedAt: number;
  /** The coordinator accepted the start and the agent was let go (else a restart drops it). */
  claimed?: boolean;
}

function tail(file: string, bytes = 3072): string {
  if (!existsSync(file)) return '';
  const b = readFileSync(file);
  return b.subarray(Math.max(0, b.length - bytes)).toString('utf8');
}

export class Session {
  readonly dir: string;
  readonly worktree: string;
  readonly name: string;
  private uploader: OutputUploader | undefined;
  private killed = false;
  /** Seconds of silence after which this session was stopped (set only then). */
  private silentFor: number | undefined;
  private startedAt = Date.now();
  /** The agent run's span (not kept across a node restart: a resumed run has none). */
  private span: Span | undefined;
  /** The environment, written into the runner's FIFO once the coordinator accepts the start. */
  private pendingEnv: { fifo: string; text: string } | undefined;

  /** A new attempt, or (with `resumed`) one a previous run of this node left in tmux. */
  constructor(readonly a: Assignment, private readonly deps: SessionDeps, resumed?: SessionRecord) {
    this.dir = deps.paths.attemptDir(a.project, a.taskId, a.attempt);
    this.worktree = deps.paths.worktree(a.project, a.branch);
    // One tmux session per attempt: a kill by name can never hit another attempt of the task.
    this.name = resumed?.session ?? sessionName(a.project, a.taskId, a.attempt);
    // A resumed attempt keeps its deadline: a restart does not buy it more time.
    if (resumed) this.startedAt = resumed.startedAt;
  }

  get token(): string { return this.a.token; }

  static recordFile(dir: string): string { return join(dir, 'attempt.json'); }

  /** prepare + artifacts + launch. Throws with a classed message when the attempt cannot start. `accepting`: the node's receive span. */
  async launch(accepting?: Context): Promise<void> {
    const { a, deps } = this;
    // Checked again here: these become paths, refs and shell words on this machine.
    const problem = projectNameProblem(a.project) ?? branchProblem(a.branch) ?? (a.baseBranch ? branchProblem(a.baseBranch) : undefined);
    if (problem) throw new Error(`refusing assignment: ${problem}`);
    const t0 = Date.now();
    mkdirSync(this.dir, { recursive: true });
    const sys = join(this.dir, 'prompt-sys.md');
    const msg = join(this.dir, 'prompt-msg.md');
    writeFileSync(sys, a.systemPrompt);
    writeFileSync(msg, a.prompt);
    for (const f of ['exit.txt', 'output.log', 'stderr.txt', 'output.json', 'result.json', 'upload.json', 'agent.pid']) rmSync(join(this.dir, f), { force: true });
    const spec = agentSpec(a.agent, deps.config);
    const adapter = adapterFor(spec.kind);
    const inv = adapter.invocation(spec, { systemPromptFile: sys, promptFile: msg }, a.model);
    // Facts about the attempt every agent (and wrapper script) may use.
    inv.env = { ...inv.env, ORCH_TASK_ID: String(a.taskId), ORCH_ATTEMPT: String(a.attempt), ORCH_NODE: deps.node, ORCH_PROJECT: a.project, ORCH_BRANCH: a.branch };
    // The agent run is a span of the task's trace; the agent gets its context as TRACEPARENT.
    const parent = contextOf(a.trace);
    this.span = tracer().startSpan(`invoke_agent ${a.agent}`, {
      attributes: {
        'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': a.agent, 'gen_ai.request.model': a.model || spec.kind,
        ...(PROVIDERS[a.agent] ?? PROVIDERS[spec.kind] ? { 'gen_ai.provider.name': PROVIDERS[a.agent] ?? PROVIDERS[spec.kind] } : {}),
        'orch.task': a.taskId, 'orch.attempt': a.attempt, 'orch.node': deps.node,
      },
    }, parent);
    const carrier = carrierOf(trace.setSpan(parent, this.span));
    const traceparent = carrier.traceparent;
    if (carrier.tracestate) inv.env.TRACESTATE = carrier.tracestate;
    const tel = telemetry();
    if (tel.enabled && spec.kind === 'claude' && tel.endpoint) {
      // Claude Code exports its own spans (claude_code.*), nested under ours through TRACEPARENT.
      inv.env = {
        CLAUDE_CODE_ENABLE_TELEMETRY: '1', CLAUDE_CODE_ENHANCED_TELEMETRY_BETA: '1', OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: tel.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: tel.protocol ?? 'http/protobuf', ...inv.env,
      };
    }
    const { script, envFifo } = await writeRunnerScript({
      attemptDir: this.dir, worktree: this.worktree, invocation: inv, timeoutSeconds: a.timeoutSeconds, traceparent, leaseFile: deps.paths.nodeLease,
    });
    this.startedAt = Date.now();
    this.writeRecord(false);

    // The session starts while the worktree is made: runner.sh waits on its FIFO, and
    // gets its environment (and so goes on into the worktree) only once the worktree exists.
    const command = `bash ${sq(script)}`;
    const session = (async () => {
      try {
        await deps.tmux.startSession(this.name, this.dir, command);
      } catch (err) {
        if (!/duplicate session/i.test((err as Error).message)) throw err;
        // A ghost of an older attempt of this task holds the name: it is not ours to keep.
        await deps.tmux.killSession(this.name);
        await deps.tmux.startSession(this.name, this.dir, command);
      }
      return Date.now();
    })();
    const worktreeSpan = tracer().startSpan('orch.worktree', { attributes: { 'orch.task': a.taskId, 'orch.attempt': a.attempt, 'orch.branch': a.branch, 'orch.base_branch': a.baseBranch } }, accepting ?? parent);
    const worktree = (async () => {
      const mirror = deps.paths.mirror(a.project);
      // A first attempt may start from a base fetched up to 10 s ago; a retry always fetches (to continue the pushed branch).
      await ensureMirror(mirror, a.remote, { maxAgeMs: a.attempt === 1 ? 10_000 : 0 });
      const tMirror = Date.now();
      await ensureWorktree({ mirrorDir: mirror, worktreeDir: this.worktree, branch: a.branch, baseBranch: a.baseBranch, firstAttempt: a.attempt === 1 });
      const tWorktree = Date.now();
      // The next task of this project will find a worktree ready to move into place.
      prepareSpare(mirror, deps.paths.worktreesOf(a.project), a.baseBranch);
      return [tMirror, tWorktree];
    })();
    const [s, w] = await Promise.allSettled([session, worktree]);
    if (w.status === 'fulfilled') {
      worktreeSpan.setAttributes({ 'orch.mirror_ms': w.value[0] - t0, 'orch.worktree_ms': w.value[1] - w.value[0] });
      worktreeSpan.end();
    } else endWithError(worktreeSpan, w.reason);
    if (w.status === 'rejected') {
      if (s.status === 'fulfilled') await deps.tmux.killSession(this.name).catch(() => undefined);
      throw w.reason;
    }
    if (s.status === 'rejected') throw s.reason;
    this.pendingEnv = { fifo: envFifo, text: envScript(inv.env) };
    log.info('session ready', {
      task: a.taskId, attempt: a.attempt, session: this.name, agent: a.agent,
      ms: { mirror: w.value[0] - t0, worktree: w.value[1] - w.value[0], tmux: s.value - t0, total: Date.now() - t0 },
    });
  }

  /** The attempt could not start: its agent-run span ends with the reason. */
  failed(err: unknown): void {
    if (this.span) endWithError(this.span, err);
    this.span = undefined;
  }

  private writeRecord(claimed: boolean): void {
    const record: SessionRecord = { assignment: this.a, dir: this.dir, worktree: this.worktree, session: this.name, startedAt: this.startedAt, claimed };
    writeFileSync(Session.recordFile(this.dir), JSON.stringify(record));
  }

  /**
   * The coordinator accepted the start: let the agent go (its environment, secrets
   * included, goes into the runner's FIFO). Until now nothing of the agent has run.
   */
  async go(): Promise<void> {
    if (!this.pendingEnv) throw new Error('go() before launch()');
    this.writeRecord(true);
    await writeFifo(this.pendingEnv.fifo, this.pendingEnv.text, 10_000);
    this.pendingEnv = undefined;
    this.startedAt = Date.now();
  }

  /** Follow the running session until it exits (or times out, or is killed), then build the result. */
  async watch(): Promise<AttemptResult> {
    const { a, deps } = this;
    this.uploader = new OutputUploader({
      file: join(this.dir, 'output.log'), stateFile: join(this.dir, 'upload.json'),
      taskId: a.taskId, attempt: a.attempt, token: a.token, send: deps.uploadOutput,
    });
    this.uploader.start();
    const deadline = this.startedAt + (a.timeoutSeconds + 30) * 1000;
    const silenceMs = (deps.config.workflow?.silence_seconds ?? 300) * 1000;
    const exitCode = await new Promise<number | null>((resolve) => {
      let done = false;
      const finish = (code: number | null) => {
        if (done) return;
        done = true;
        watcher?.close();
        clearInterval(timer);
        resolve(code);
      };
      const check = async () => {
        if (done) return;
        const code = readExit(this.dir);
        if (code !== undefined) return finish(code);
        if (this.killed) return finish(null);
        if (!(await deps.tmux.hasSession(this.name).catch(() => true))) {
          // The session vanished without writing exit.txt (killed from outside, or the machine rebooted).
          return finish(readExit(this.dir) ?? null);
        }
        if (Date.now() > deadline) {
          await deps.tmux.killSession(this.name).catch(() => undefined);
          return finish(124);
        }
        const quiet = this.quietMs();
        if (quiet > silenceMs) {
          this.silentFor = Math.round(quiet / 1000);
          log.warn('agent silent; stopping it', { task: a.taskId, attempt: a.attempt, seconds: this.silentFor });
          // The agent's own group first (the runner then records its exit), the session as a fallback.
          if (stopAgent(this.dir)) await new Promise((r) => setTimeout(r, 1_000));
          // The runner may have recorded its end meanwhile (and the attempt been reported, and the
          // next attempt of the task started in a session of the same name): never kill that one.
          if (done) return;
          if (readExit(this.dir) === undefined) await deps.tmux.killSession(this.name).catch(() => undefined);
          return finish(readExit(this.dir) ?? null);
        }
      };
      let watcher: ReturnType<typeof watch> | undefined;
      try {
        watcher = watch(this.dir, (_e, f) => { if (f === 'exit.txt') void check(); });
      } catch {
        watcher = undefined;
      }
      // exit.txt wakes us through the watcher; the poll is for vanished sessions, silence and the deadline.
      const timer = setInterval(() => void check(), Math.min(2_000, Math.max(200, silenceMs / 4)));
      // A first look without tmux (a resumed session may have ended while nobody watched).
      if (readExit(this.dir) !== undefined) void check();
    });
    await this.uploader.finish();
    return this.finish(exitCode);
  }

  /** Time since the agent last printed anything (or since the start). */
  private quietMs(): number {
    let last = this.startedAt;
    for (const f of ['output.log', 'stderr.txt']) {
      try {
        last = Math.max(last, statSync(join(this.dir, f)).mtimeMs);
      } catch {
        // not there yet
      }
    }
    return Date.now() - last;
  }

  private async finish(exitCode: number | null): Promise<AttemptResult> {
    const { a, deps } = this;
    const durationMs = Date.now() - this.startedAt;
    const outputFile = join(this.dir, 'output.log');
    const stdout = existsSync(outputFile) ? readFileSync(outputFile, 'utf8') : '';
    const spec = agentSpec(a.agent, deps.config);
    const run = adapterFor(spec.kind).parseOutput(stdout);
    writeFileSync(join(this.dir, 'output.json'), redact(JSON.stringify(redactDeep(run), null, 2)));
    const model = a.model || spec.defaultModel || '';
    const { costUsd, costSource } = attemptCost(run, deps.config.pricing ?? {}, a.agent, model);
    const base: AttemptResult = {
      taskId: a.taskId, attempt: a.attempt, token: a.token, node: deps.node, outcome: 'error', answer: undefined,
      errorClass: '', errorMessage: '', exitCode: exitCode ?? -1, durationMs,
      inputTokens: run.inputTokens, cacheReadTokens: run.cacheReadTokens, cacheWriteTokens: run.cacheWriteTokens, outputTokens: run.outputTokens,
      costUsd, costSource, retryAfterSeconds: run.retryAfterSeconds ?? 0, sessionId: run.sessionId ?? '', model,
      commit: '', pushed: false, diff: '', changedFiles: [],
      stderrTail: redact(tail(join(this.dir, 'stderr.txt'), 2048)), dir: this.dir,
    };
    let result: AttemptResult;
    if (this.killed) {
      result = { ...base, errorClass: 'Killed', errorMessage: 'the session was killed' };
    } else if (exitCode === LEASE_EXPIRED_EXIT && existsSync(join(this.dir, 'lease-expired'))) {
      result = { ...base, errorClass: 'Vanished', errorMessage: 'the node lost its lease (no heartbeat reached the coordinator), so the agent was stopped' };
    } else if (exitCode !== 0 || run.isError || this.silentFor !== undefined) {
      const c = classifyFailure({
        exitCode, timedOut: exitCode === 124 && this.silentFor === undefined, silentSeconds: this.silentFor,
        structured: run.isError ? { errorClass: run.errorClass, message: run.errorText ? redact(run.errorText) : undefined } : undefined,
        outputTail: redact(tail(outputFile)), stderrTail: base.stderrTail,
      });
      result = { ...base, errorClass: c.errorClass, errorMessage: c.message.slice(0, 500) };
    } else {
      const { answer } = parseAgentAnswer(run.text);
      // Every field of the answer leaves the node (task memory, comments, PR bodies): all redacted.
      result = { ...base, outcome: 'success', answer: redactDeep(answer) };
    }
    if (this.span) {
      this.span.setAttributes({
        'gen_ai.usage.input_tokens': run.inputTokens, 'gen_ai.usage.output_tokens': run.outputTokens,
        'orch.cost_usd': run.costUsd, 'orch.exit_code': exitCode ?? -1, ...(result.errorClass ? { 'error.type': result.errorClass, 'orch.exit_class': result.errorClass } : {}),
      });
      if (result.outcome !== 'success') this.span.setStatus({ code: 2, message: result.errorMessage });
      this.span.end();
    }
    const push = tracer().startSpan('orch.git push', { attributes: { 'orch.task': a.taskId, 'orch.attempt': a.attempt, 'orch.branch': a.branch } }, contextOf(a.trace));
    // Whatever the outcome, keep the agent's work: commit, and push the branch while this
    // attempt is still the task's current one (a superseded attempt keeps its commit local).
    try {
      const lease = await deps.checkLease(a);
      if (!lease.accepted) log.warn('attempt superseded; not pushing', { task: a.taskId, attempt: a.attempt, reason: lease.reason });
      const c = await commitAndPush({
        dir: this.worktree, message: `orch: task #${a.taskId} attempt ${a.attempt}: ${a.title}`.slice(0, 200), branch: a.branch,
        remote: lease.accepted ? a.remote : undefined, expectHead: a.expectHead,
        who: { name: deps.config.git?.name ?? 'orch[bot]', email: deps.config.git?.email ?? 'orch@localhost' },
        diffBase: `refs/remotes/origin/${a.baseBranch}`,
      });
      result.commit = c.sha;
      result.pushed = c.pushed;
      push.setAttribute('orch.committed', c.committed);
      result.changedFiles = c.files;
      result.diff = redact(c.diff);
      if (c.superseded) log.warn('replaced a branch head no accepted attempt made (a superseded attempt pushed it)', { task: a.taskId, attempt: a.attempt, head: c.superseded });
    } catch (err) {
      result.commit = err instanceof CommitError ? err.sha : '';
      log.warn('commit/push failed', { task: a.taskId, err });
      if (result.outcome === 'success') {
        result = { ...result, outcome: 'error', errorClass: 'AgentFailed', errorMessage: `the work could not be pushed: ${redact((err as Error).message)}`.slice(0, 500) };
      }
    }
    // One span for both: the commit and the push are one script (worktree.ts).
    push.setAttributes({ 'orch.pushed': result.pushed, 'orch.commit': result.commit });
    push.end();
    writeFileSync(join(this.dir, 'result.json'), JSON.stringify(resultJson(result, a), null, 2));
    return result;
  }

  async kill(): Promise<void> {
    this.killed = true;
    // The agent's own process group first (it is not in tmux's), then the session.
    stopAgent(this.dir);
    await this.deps.tmux.killSession(this.name).catch(() => undefined);
  }

  stopWatching(): void {
    this.uploader?.stop();
  }
}
