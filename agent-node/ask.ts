// One-shot agent runs ("asks"): the router's decision, a review of a diff, a chat turn.
// The same adapters as tasks, but no worktree, no commit, no push, no tmux: the agent CLI
// runs once in a scratch directory with the minimal environment and its final text goes
// back to the coordinator in the reply. Asks do not take task slots (they are short and
// bounded: at most MAX_ASKS at once per node).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { OrchConfig } from '../runtime/config/index.js';
import { logger } from '../runtime/log.js';
import type { OrchPaths } from '../runtime/paths.js';
import { redact } from '../runtime/redact.js';
import { attemptCost } from './attempt-report.js';
import { adapterFor } from './agents/index.js';
import { agentSpec } from './agents/spec.js';
import { classifyFailure } from './errors.js';
import { runInGroup } from './process-group.js';
import { BASE_ENV } from './runner.js';

const log = logger('ask');

/** What the coordinator sends on a node's control subject (`op: 'ask'`). */
export interface AskWire {
  op: 'ask';
  id: string;
  purpose: string;
  agent: string;
  model?: string;
  system?: string;
  prompt: string;
  timeoutMs: number;
  traceparent?: string;
}

/** The node's reply. */
export interface AskReply {
  ok: boolean;
  text: string;
  model: string;
  node: string;
  durationMs: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
  errorClass?: string;
  error?: string;
}

export const MAX_ASKS = 4;
const MAX_OUTPUT = 8 * 1024 * 1024;

export function isAskWire(v: unknown): v is AskWire {
  const r = v as Partial<AskWire>;
  return !!r && r.op === 'ask' && typeof r.agent === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(r.agent)
    && typeof r.prompt === 'string' && typeof r.timeoutMs === 'number' && typeof r.id === 'string';
}

export class AskRunner {
  private running = 0;

  constructor(private readonly o: { node: string; config: OrchConfig; paths: OrchPaths; agents: () => string[] }) {}

  async run(req: AskWire): Promise<AskReply> {
    const t0 = Date.now();
    const fail = (errorClass: string, error: string): AskReply => ({
      ok: false, text: '', model: req.model ?? '', node: this.o.node, durationMs: Date.now() - t0,
      inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0, errorClass, error: redact(error).slice(0, 500),
    });
    if (!this.o.agents().includes(req.agent)) return fail('MissingTool', `agent ${req.agent} is not installed on node ${this.o.node}`);
    if (this.running >= MAX_ASKS) return fail('Busy', `node ${this.o.node} already runs ${MAX_ASKS} asks`);
    this.running++;
    const dir = join(this.o.paths.home, 'run', 'ask', `${req.id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)}-${randomUUID().slice(0, 8)}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const sys = join(dir, 'prompt-sys.md');
      const msg = join(dir, 'prompt-msg.md');
      writeFileSync(sys, req.system ?? '');
      writeFileSync(msg, req.prompt);
      const spec = agentSpec(req.agent, this.o.config);
      // Nothing in the scratch directory is worth a tool call: read-only where the agent knows the idea.
      if (spec.kind === 'codex') spec.skipGitRepoCheck = true;
      const adapter = adapterFor(spec.kind);
      const model = req.model || spec.defaultModel || '';
      const inv = adapter.invocation(spec, { systemPromptFile: sys, promptFile: msg }, req.model ?? '');
      const env: Record<string, string> = {};
      for (const k of BASE_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
      Object.assign(env, inv.env, { ORCH_ASK: req.purpose, ORCH_NODE: this.o.node });
      if (req.traceparent) env.TRACEPARENT = req.traceparent;
      let stdinFile = inv.stdinFile;
      if (inv.stdinFiles?.length) {
        stdinFile = join(dir, 'stdin.md');
        writeFileSync(stdinFile, inv.stdinFiles.map((f) => readFileSync(f, 'utf8')).join('\n\n'));
      }
      const { code, stdout, stderr, timedOut } = await runOnce(inv.argv, { cwd: dir, env, stdinFile, timeoutMs: req.timeoutMs });
      const run = adapter.parseOutput(stdout);
      const { costUsd } = attemptCost(run, this.o.config.pricing ?? {}, req.agent, model);
      const usage = { inputTokens: run.inputTokens, outputTokens: run.outputTokens, cacheReadTokens: run.cacheReadTokens, cacheWriteTokens: run.cacheWriteTokens, costUsd };
      if (code !== 0 || run.isError || timedOut) {
        const c = classifyFailure({
          exitCode: code, timedOut,
          structured: run.isError ? { errorClass: run.errorClass, message: run.errorText ? redact(run.errorText) : undefined } : undefined,
          outputTail: redact(stdout.slice(-3072)), stderrTail: redact(stderr.slice(-2048)),
        });
        log.warn('ask failed', { purpose: req.purpose, agent: req.agent, errorClass: c.errorClass, msg: c.message });
        return { ...fail(c.errorClass, c.message), ...usage, model };
      }
      return { ok: true, text: redact(run.text), model, node: this.o.node, durationMs: Date.now() - t0, ...usage };
    } catch (err) {
      return fail('AgentFailed', (err as Error).message);
    } finally {
      this.running--;
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function runOnce(argv: string[], o: { cwd: string; env: Record<string, string>; stdinFile?: string; timeoutMs: number }):
  Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  const keep = (into: Buffer[]) => (b: Buffer) => { if (size < MAX_OUTPUT) { into.push(b); size += b.length; } };
  const r = await runInGroup(argv, { ...o, onStdout: keep(out), onStderr: keep(err) });
  return { code: r.code, timedOut: r.timedOut, stdout: Buffer.concat(out).toString('utf8'), stderr: r.spawnError ?? Buffer.concat(err).toString('utf8') };
}
