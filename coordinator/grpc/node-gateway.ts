// The NodeGateway gRPC service: what agent-nodes call. Every report is fenced by the
// attempt's token inside the task actor; a refused report is answered, not thrown,
// so a node that lost its lease learns to stop rather than retrying forever.
import { status, type ServerReadableStream, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { HeldAttempt, NodeGatewayServer, OutputChunk, UploadOutputResponse } from '../../proto/gen/orch/v1/node.js';
import { logger } from '../../runtime/log.js';
import type { Coordinator } from '../coordinator.js';
import { attachNode } from './attach.js';
import { InvalidArgument, TryAgainError, unary } from './handlers.js';
import { accessOf, refusal as tokenRefusal, type Access } from './access.js';
import { NodeBinding } from './node-binding.js';
import { SpanKind } from '@opentelemetry/api';
import type { Metadata } from '@grpc/grpc-js';
import { contextOf, tracer } from '../../runtime/telemetry/index.js';

/** The caller's trace context from gRPC metadata (traceparent / tracestate). */
function contextFromMetadata(md: Metadata) {
  const carrier: Record<string, string> = {};
  for (const k of ['traceparent', 'tracestate']) {
    const v = md.get(k)[0];
    if (typeof v === 'string') carrier[k] = v;
  }
  return contextOf(carrier);
}

const log = logger('gateway');

/**
 * A decided refusal (the attempt was superseded, the task moved on) is an answer; anything
 * else (the database is restarting, leadership moved) is not, and is thrown as UNAVAILABLE so
 * the node asks again rather than dropping its start, its push or its result.
 */
function refusal(err: unknown): { accepted: boolean; reason: string } {
  const reason = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : '';
  if (name === 'RefusedError' || name === 'FencedError') return { accepted: false, reason };
  log.warn('could not decide a node report now; the node will retry', { err: reason });
  throw new TryAgainError(`the coordinator cannot decide now, try again: ${reason}`);
}

/** `ipv4:10.0.0.2:5123` / `ipv6:[::1]:5123` -> the host part. */
export function peerHost(peer: string): string {
  const p = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const m = /^\[(.*)\]:\d+$/.exec(p) ?? /^(.*):\d+$/.exec(p);
  return m ? m[1] : p;
}

export function nodeGateway(c: Coordinator, accessOrToken: Access | string | undefined): NodeGatewayServer & UntypedServiceImplementation {
  const token = accessOf(accessOrToken);
  // In a TLS fleet every node call is bound to the name in the caller's enrolled certificate.
  const bind = new NodeBinding(c, token.identities);
  return {
    enroll: unary(token, async (req) => {
      if (!token.identities) throw new InvalidArgument('this coordinator does not serve TLS (embedded mode): there is nothing to enrol in');
      const { cert, ca } = await token.identities.enrol(req.name, req.csrPem);
      log.info('node enrolled', { node: req.name });
      return { certPem: cert, caPem: ca };
    }),

    register: unary(token, async (req, call) => {
      const info = req.node;
      if (!info || !info.name) throw new InvalidArgument('a node must register with a name');
      await bind.asNode(call, info.name);
      c.heartbeats.reset(info.name);
      // Where the node really is, as this coordinator sees it (unless it names its own address).
      if (!info.address) info.address = peerHost(call.getPeer());
      if (info.slots < 1) throw new InvalidArgument(`node ${info.name}: slots must be at least 1`);
      await c.store.upsertNode(info.name, info);
      // An operator's drain outlives the node's restarts.
      const drained = (await c.store.getNode(info.name))?.drained;
      c.registry.setDrained(info.name, drained);
      c.registry.register(info);
      // Attempts we think run there but the node does not hold were lost with its previous life.
      const held = new Set(req.held.map((h) => h.token));
      for (const a of c.registry.inFlight(info.name)) {
        // (An attempt not claimed yet may still wait in the node's queue: not lost.)
        if (!held.has(a.token) && c.registry.isClaimed(a.token)) {
          c.actor(a.taskId).tell({ op: 'lost', attempt: a.attempt, token: a.token, node: info.name, why: 'the node restarted without it' });
        }
      }
      // Attempts the node holds that are no longer current must be stopped there.
      const release: HeldAttempt[] = [];
      for (const h of req.held) {
        const a = await c.store.getAttempt(h.taskId, h.attempt);
        if (!a || a.token !== h.token || !['assigned', 'running'].includes(a.state) || a.node !== info.name) release.push(h);
        else {
          c.registry.placed(info.name, { taskId: h.taskId, attempt: h.attempt, token: h.token });
          if (a.state === 'running') c.registry.claimed(a.token);
        }
      }
      log.info('node registered', { node: info.name, slots: info.slots, agents: info.agents.map((a) => a.name), held: req.held.length, released: release.length, drained });
      c.dispatcher.pump();
      return { node: info.name, release, state: drained ? 'draining' : 'up', drainReason: drained ?? '' };
    }),

    heartbeat: unary(token, async (info, call) => {
      if (!info.name) throw new InvalidArgument('a heartbeat must carry the node name');
      await bind.asNode(call, info.name);
      const out = c.heartbeat(info.name, info);
      const drained = c.registry.drainReason(info.name);
      return { known: out.known, state: drained ? 'draining' : 'up', drainReason: drained ?? '' };
    }),

    checkLease: unary(token, async (req, call) => {
      await bind.ownsAttempt(call, req.taskId, req.attempt);
      try {
        await c.ask(req.taskId, { op: 'checkLease', attempt: req.attempt, token: req.token });
        return { accepted: true, reason: '' };
      } catch (err) {
        return refusal(err);
      }
    }),

    reportStarted: unary(token, async (req, call) => {
      await bind.asNode(call, req.node);
      await bind.ownsAttempt(call, req.taskId, req.attempt);
      // The node's claim, a child of its receive span (the context in the call's metadata).
      const span = tracer().startSpan('orch.report start', {
        kind: SpanKind.SERVER, attributes: { 'orch.task': req.taskId, 'orch.attempt': req.attempt, 'orch.node': req.node },
      }, contextFromMetadata(call.metadata));
      try {
        await c.ask(req.taskId, { op: 'started', started: req });
        span.end();
        return { accepted: true, reason: '' };
      } catch (err) {
        span.setAttribute('orch.refused', err instanceof Error ? err.message : String(err));
        span.end();
        return refusal(err);
      }
    }),

    reportResult: unary(token, async (req, call) => {
      await bind.asNode(call, req.node);
      await bind.ownsAttempt(call, req.taskId, req.attempt);
      const span = tracer().startSpan('orch.report result', {
        kind: SpanKind.SERVER, attributes: { 'orch.task': req.taskId, 'orch.attempt': req.attempt, 'orch.node': req.node, 'orch.outcome': req.outcome, ...(req.errorClass ? { 'error.type': req.errorClass } : {}) },
      }, contextFromMetadata(call.metadata));
      try {
        const task = await c.report(req);
        span.setAttribute('orch.status', task.status);
        span.end();
        return { accepted: true, reason: '' };
      } catch (err) {
        log.warn('result refused', { task: req.taskId, attempt: req.attempt, node: req.node, err });
        span.setAttribute('orch.refused', err instanceof Error ? err.message : String(err));
        span.end();
        return refusal(err);
      }
    }),

    uploadOutput: (call: ServerReadableStream<OutputChunk, UploadOutputResponse>, callback: sendUnaryData<UploadOutputResponse>) => {
      // Node calls carry the token (a CLI certificate is no node's): checked at once, so no chunk is missed.
      const no = tokenRefusal(token, call.metadata, call.getPath());
      if (no) { callback(no, null); return; }
      let last: { taskId: number; attempt: number; next: number } | undefined;
      let chain: Promise<void> = Promise.resolve();
      let gap = false;
      let lastSeq = 0;
      let refused: string | undefined;
      call.on('data', (chunk: OutputChunk) => {
        chain = chain.then(async () => {
          if (gap || refused) return;
          refused = await bind.refusesAttempt(call, chunk.taskId, chunk.attempt);
          if (refused) { log.warn('output refused', { task: chunk.taskId, attempt: chunk.attempt, reason: refused }); return; }
          // Only the live attempt's token writes its output, in the order the node numbered it.
          refused = c.hub.refuses(chunk.taskId, chunk.attempt, chunk.token)
            ?? (chunk.seq <= lastSeq ? `output chunk ${chunk.seq} of task ${chunk.taskId} came after chunk ${lastSeq}: out of order` : undefined);
          if (refused) { log.warn('output refused', { task: chunk.taskId, attempt: chunk.attempt, reason: refused }); return; }
          lastSeq = chunk.seq;
          const have = c.hub.size(chunk.taskId, chunk.attempt);
          if (chunk.offset > have) { gap = true; last = { taskId: chunk.taskId, attempt: chunk.attempt, next: have }; return; }
          const next = await c.hub.append(chunk.taskId, chunk.attempt, chunk.offset, chunk.data);
          last = { taskId: chunk.taskId, attempt: chunk.attempt, next };
        });
      });
      call.on('end', () => {
        chain.then(
          () => refused
            ? callback({ code: bind.denied(refused) ? status.PERMISSION_DENIED : status.FAILED_PRECONDITION, details: refused }, null)
            : callback(null, { taskId: last?.taskId ?? 0, attempt: last?.attempt ?? 0, nextOffset: last?.next ?? 0 }),
          (err) => callback({ code: 13, details: String((err as Error).message) }, null),
        );
      });
      call.on('error', (err) => log.debug('upload stream broke', { err }));
    },

    attachSession: (call) => attachNode(c, token, bind, call),
  };
}
