// AttachRelay: pairs a CLI's `orch task attach` stream with the stream the task's node
// opens back. Nodes only dial out (gRPC to us, the bus), so the coordinator asks the node
// over its control subject to dial in with a relay id, and waits here for that stream.
import { randomUUID } from 'node:crypto';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { AttachFrame } from '../proto/gen/orch/v1/types.js';
import type { ControlRequest } from './ask.js';
import { RefusedError } from './task-actor.js';
import type { AttachRequest } from '../agent-node/attach.js';

/** The node's end of an attachment: its AttachSession stream, paused until the CLI's side takes it. */
export type NodeLeg = ServerDuplexStream<AttachFrame, AttachFrame>;

/** What the node needs to attach (agent-node/attach.ts): the attempt (by its token, never another one) and the terminal. */
export type AttachAsk = Omit<AttachRequest, 'relay'>;

/** The node's answer on its control subject. */
export interface AttachReply { ok: boolean; reason?: string }

interface Waiting { resolve(leg: NodeLeg): void; reject(err: Error): void; timer: NodeJS.Timeout; node: string }

export class AttachRelay {
  private waiting = new Map<string, Waiting>();

  /** request: a control request to a node (sealed in a TLS fleet: Coordinator.controlRequest). */
  constructor(private readonly request: ControlRequest, private readonly dialTimeoutMs = 15_000) {}

  /** Ask `node` to dial in for the attempt `ask.token`; resolves with its stream. */
  async dial(node: string, ask: AttachAsk): Promise<NodeLeg> {
    const relay = randomUUID();
    const leg = new Promise<NodeLeg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(relay);
        reject(new RefusedError(`node ${node} agreed to attach but did not connect back within ${Math.round(this.dialTimeoutMs / 1000)} s`));
      }, this.dialTimeoutMs);
      timer.unref();
      this.waiting.set(relay, { resolve, reject, timer, node });
    });
    leg.catch(() => undefined); // observed below, or by the caller
    let reply: AttachReply;
    try {
      const body = Buffer.from(JSON.stringify({ op: 'attach', relay, ...ask }));
      reply = JSON.parse(Buffer.from(await this.request(node, body, 10_000)).toString('utf8')) as AttachReply;
    } catch (err) {
      this.cancel(relay);
      throw new RefusedError(`node ${node} did not answer the attach request (is it up? ${(err as Error).message})`);
    }
    if (!reply.ok) {
      this.cancel(relay);
      throw new RefusedError(reply.reason ?? `node ${node} refused to attach`);
    }
    return leg;
  }

  /** The node an attach with this relay id was asked of (undefined: nobody waits for it). */
  nodeOf(relay: string): string | undefined {
    return this.waiting.get(relay)?.node;
  }

  /** A node dialled in: hand its stream to the CLI that waits for it (false: nobody does). */
  accept(relay: string, leg: NodeLeg): boolean {
    const w = this.waiting.get(relay);
    if (!w) return false;
    this.waiting.delete(relay);
    clearTimeout(w.timer);
    w.resolve(leg);
    return true;
  }

  private cancel(relay: string): void {
    const w = this.waiting.get(relay);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiting.delete(relay);
  }
}

/** The attempt to attach to, or why there is none (a message a user can act on). */
export function attachTarget(task: { id: number; status: string } | undefined, attempts: Array<{ number: number; state: string; node: string; session: string; finishedAt: Date | null }>, id: number): { attempt: number } | { refusal: string } {
  if (!task) return { refusal: `task ${id} not found` };
  const running = attempts.filter((a) => a.state === 'running').at(-1);
  if (running && running.session) return { attempt: running.number };
  const starting = attempts.filter((a) => a.state === 'assigned').at(-1);
  if (starting) return { refusal: `task ${id} is starting (attempt ${starting.number} on node ${starting.node}): try again in a moment` };
  if (task.status === 'new' || task.status === 'routed') return { refusal: `task ${id} is not running yet (${task.status}: waiting for a node); attach once it runs` };
  const last = attempts.at(-1);
  const ended = last?.finishedAt ? `, its last attempt ended ${last.finishedAt.toISOString()}` : '';
  return { refusal: `task ${id} is not running (${task.status}${ended}): there is no session to attach to; see its output with \`orch task logs ${id}\`` };
}
