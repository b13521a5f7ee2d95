// The two gRPC ends of `orch task attach`: the CLI's Attach stream (Coordinator service)
// and the node's AttachSession stream (NodeGateway), spliced frame by frame once the node
// has dialled back (see attach-relay.ts). Keystrokes and resizes go down, the screen comes up.
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import { AttachFrame, type AttachEnd, type AttachOpen } from '../../proto/gen/orch/v1/types.js';
import { logger } from '../../runtime/log.js';
import { attachTarget, type NodeLeg } from '../attach-relay.js';
import type { Coordinator } from '../coordinator.js';
import { denied, failStream, toServiceError } from './handlers.js';
import { refusal as tokenRefusal, type Access } from './access.js';
import type { NodeBinding } from './node-binding.js';

const log = logger('attach');

type Call = ServerDuplexStream<AttachFrame, AttachFrame>;

function fail(call: Call, err: { code?: number; details?: string }): void {
  failStream(call, Object.assign(new Error(err.details ?? 'attach failed'), err));
}

/** Coordinator.Attach: the CLI's terminal. Needs the same authorisation as a mutation: it types into an agent. */
export function attachCli(c: Coordinator, access: Access | string | undefined, call: Call): void {
  // Checked before any frame is read: a refused caller's keys never reach a node.
  call.pause();
  denied(access, call).then((no) => {
    if (no) { fail(call, no); return; }
    relayCli(c, call);
    call.resume();
  }, (err) => fail(call, toServiceError(err)));
}

function relayCli(c: Coordinator, call: Call): void {
  let leg: NodeLeg | undefined;
  let opened = false;
  let done = false;
  const early: AttachFrame[] = []; // keys and resizes sent before the node dialled back

  const finish = (end?: AttachEnd) => {
    if (done) return;
    done = true;
    if (end) call.write(AttachFrame.fromPartial({ end }));
    call.end();
    leg?.end();
  };

  call.on('data', (f: AttachFrame) => {
    if (!opened) {
      opened = true;
      if (!f.open || !f.open.taskId) { fail(call, { code: status.INVALID_ARGUMENT, details: 'the first attach frame must name the task (open.task_id)' }); return; }
      open(f.open).catch((err) => { done = true; fail(call, toServiceError(err)); leg?.end(); });
      return;
    }
    const down = AttachFrame.fromPartial({ input: f.input, resize: f.resize });
    if (leg) leg.write(down);
    else if (early.length < 1000) early.push(down);
  });
  // The user went away (detached locally, closed the terminal, lost the network): the node's tmux client stops.
  call.on('end', () => finish());
  call.on('cancelled', () => finish());
  call.on('error', () => finish());

  const open = async (o: AttachOpen) => {
    const task = await c.store.getTask(o.taskId);
    const attempts = task ? await c.store.listAttempts(o.taskId) : [];
    const target = attachTarget(task, attempts, o.taskId);
    if ('refusal' in target) throw Object.assign(new Error(target.refusal), { name: task ? 'RefusedError' : 'NotFoundError' });
    const a = attempts.find((x) => x.number === target.attempt)!;
    log.info('attach requested', { task: o.taskId, attempt: a.number, node: a.node, readOnly: o.readOnly });
    const l = await c.attachRelay.dial(a.node, {
      token: a.token, taskId: o.taskId, readOnly: o.readOnly, cols: o.size?.cols || 80, rows: o.size?.rows || 24, term: o.term,
    });
    if (done) { l.end(); return; }
    leg = l;
    for (const f of early.splice(0)) l.write(f);
    l.on('data', (f: AttachFrame) => {
      if (f.end) { finish(f.end); return; }
      if (!f.output.length || done) return;
      // A slow terminal holds the node back rather than growing our memory.
      if (!call.write(AttachFrame.fromPartial({ output: f.output }))) { l.pause(); call.once('drain', () => l.resume()); }
    });
    l.on('end', () => finish({ reason: 'error', message: `node ${a.node} closed the terminal` }));
    l.on('error', (err) => finish({ reason: 'error', message: `the link to node ${a.node} broke: ${err.message}` }));
    l.resume();
  };
}

/** NodeGateway.AttachSession: a node dialling back for a relay the coordinator asked it to open. */
export function attachNode(c: Coordinator, access: Access | string | undefined, bind: NodeBinding, call: Call): void {
  const no = tokenRefusal(access, call.metadata, call.getPath());
  if (no) { fail(call, no); return; }
  const first = async (f: AttachFrame) => {
    call.off('data', first);
    call.pause(); // the CLI's side takes the stream from here (and resumes it)
    const relay = f.open?.relay ?? '';
    // In a TLS fleet only the node the attach was asked of may answer it (by its certificate).
    const node = c.attachRelay.nodeOf(relay);
    if (node) {
      try {
        await bind.asNode(call as never, node);
      } catch (err) {
        log.warn('attach answered by another node; refused', { relay, node, err: (err as Error).message });
        fail(call, toServiceError(err));
        return;
      }
    }
    if (!relay || !c.attachRelay.accept(relay, call)) {
      log.warn('a node dialled in for an attach nobody waits for', { relay });
      call.write(AttachFrame.fromPartial({ end: { reason: 'error', message: 'no attach waits for this relay (the user left, or it timed out)' } }));
      call.end();
    }
  };
  call.on('data', first);
  call.on('error', (err) => log.debug('attach stream from a node broke', { err }));
}
