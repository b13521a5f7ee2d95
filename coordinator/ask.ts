// One-shot agent calls from the coordinator (router decisions, reviews, chat): sent to a
// live node that has the agent over the node's control subject; the node runs the agent
// CLI once through its adapter and replies with the final text and usage
// (agent-node/ask.ts). A node that is busy, lacks the agent or does not answer is skipped
// for the next candidate.
import { randomUUID } from 'node:crypto';
import { SpanKind, context, trace } from '@opentelemetry/api';
import type { Bus } from '../runtime/bus/bus.js';
import { subjects } from '../runtime/bus/subjects.js';
import { logger } from '../runtime/log.js';
import { carrierOf, contextOf, tracer } from '../runtime/telemetry/index.js';
import type { AskReply, AskWire } from '../agent-node/ask.js';
import type { NodeSnapshot } from './placement.js';

const log = logger('ask');

export interface AskRequest {
  /** What the answer is for: route, review, chat (logs, traces, the node's ORCH_ASK). */
  purpose: string;
  agent: string;
  /** '' or undefined: the agent's default model. */
  model?: string;
  system?: string;
  prompt: string;
  /** How long the agent may run (default 120 s). */
  timeoutMs?: number;
  taskId?: number;
  /** W3C context of the caller's span (a task's trace), when there is one. */
  trace?: Record<string, string>;
}

/** An answer: the node's reply (agent output and usage) and the agent that gave it. */
export type AskResult = Omit<AskReply, 'ok' | 'errorClass' | 'error'> & { agent: string };

export class AskError extends Error {
  constructor(readonly errorClass: string, message: string) {
    super(message);
    this.name = 'AskError';
  }
}

export interface Asker {
  ask(req: AskRequest): Promise<AskResult>;
}

/** Errors after which another node may well succeed. */
const TRY_ANOTHER = new Set(['Busy', 'MissingTool', 'Unreachable']);

/** A request on a node's control subject, its reply's body back. */
export type ControlRequest = (node: string, body: Uint8Array, timeoutMs: number) => Promise<Uint8Array>;

export class BusAsker implements Asker {
  private turn = 0;

  /** request: a control request to a node (sealed in a TLS fleet); default: plain on the bus. */
  constructor(private readonly o: { bus: Bus; snapshots: () => NodeSnapshot[]; maxNodes?: number; request?: ControlRequest }) {}

  /** Live nodes with the agent, the least loaded first (ties rotate). */
  candidates(agent: string): string[] {
    const nodes = this.o.snapshots().filter((n) => n.state === 'up' && n.agents.includes(agent));
    const t = this.turn++;
    return nodes
      .map((n, i) => ({ n, load: n.slots > 0 ? n.inFlight / n.slots : 1, spin: (i + t) % Math.max(1, nodes.length) }))
      .sort((a, b) => a.load - b.load || a.spin - b.spin)
      .map((x) => x.n.name);
  }

  async ask(req: AskRequest): Promise<AskResult> {
    const nodes = this.candidates(req.agent).slice(0, this.o.maxNodes ?? 3);
    if (!nodes.length) throw new AskError('NoNode', `no live node has agent ${req.agent}`);
    const timeoutMs = req.timeoutMs ?? 120_000;
    const span = tracer().startSpan(`orch.ask ${req.purpose}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'orch.ask.purpose': req.purpose, 'gen_ai.agent.name': req.agent, ...(req.model ? { 'gen_ai.request.model': req.model } : {}), ...(req.taskId ? { 'orch.task': req.taskId } : {}) },
    }, req.trace ? contextOf(req.trace) : context.active());
    const traceparent = carrierOf(trace.setSpan(context.active(), span)).traceparent;
    let last: AskError | undefined;
    try {
      for (const node of nodes) {
        const wire: AskWire = {
          op: 'ask', id: randomUUID(), purpose: req.purpose, agent: req.agent, model: req.model, system: req.system, prompt: req.prompt, timeoutMs,
          ...(traceparent ? { traceparent } : {}),
        };
        let reply: AskReply;
        try {
          const body = Buffer.from(JSON.stringify(wire));
          const out = this.o.request ? await this.o.request(node, body, timeoutMs + 15_000) : await this.o.bus.request(subjects.control(node), body, { timeoutMs: timeoutMs + 15_000 });
          reply = parseReply(out);
        } catch (err) {
          last = new AskError('Unreachable', `node ${node}: ${(err as Error).message}`);
          log.warn('ask not answered; trying another node', { purpose: req.purpose, node, err: (err as Error).message });
          continue;
        }
        if (reply.ok) {
          span.setAttributes({
            'orch.node': reply.node, 'gen_ai.usage.input_tokens': reply.inputTokens, 'gen_ai.usage.output_tokens': reply.outputTokens, 'orch.cost_usd': reply.costUsd,
          });
          const { ok: _ok, errorClass: _class, error: _error, ...answer } = reply;
          return { ...answer, agent: req.agent };
        }
        last = new AskError(reply.errorClass || 'AgentFailed', `${reply.node || node}: ${reply.error ?? 'the agent failed'}`);
        if (!TRY_ANOTHER.has(last.errorClass)) break;
      }
      throw last ?? new AskError('NoNode', `no node answered for agent ${req.agent}`);
    } catch (err) {
      span.setStatus({ code: 2, message: (err as Error).message });
      if (err instanceof AskError) span.setAttribute('error.type', err.errorClass);
      throw err;
    } finally {
      span.end();
    }
  }
}

function parseReply(out: Uint8Array): AskReply {
  let r: Partial<AskReply>;
  try {
    r = JSON.parse(Buffer.from(out).toString('utf8')) as Partial<AskReply>;
  } catch {
    throw new Error('malformed ask reply (not JSON)');
  }
  if (typeof r.ok !== 'boolean' || typeof r.text !== 'string') throw new Error('malformed ask reply');
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    ok: r.ok, text: r.text, model: String(r.model ?? ''), node: String(r.node ?? ''), durationMs: n(r.durationMs),
    inputTokens: n(r.inputTokens), outputTokens: n(r.outputTokens), cacheReadTokens: n(r.cacheReadTokens), cacheWriteTokens: n(r.cacheWriteTokens),
    costUsd: n(r.costUsd), errorClass: r.errorClass, error: r.error,
  };
}
