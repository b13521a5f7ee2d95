// Looking at the fleet's work from the CLI: running sessions (orch task live), the stored
// output of any attempt (orch task logs) and the coordinator's own log (orch log).
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { ListLiveResponse, LogLine, OutputEvent, ReadLogRequest, ReadOutputRequest } from '../../proto/gen/orch/v1/coordinator.js';
import { addLogSink } from '../../runtime/log.js';
import { tailLog } from '../../runtime/log-file.js';
import type { Coordinator } from '../coordinator.js';
import { failStream, InvalidArgument } from './handlers.js';

class NotFoundError extends Error {
  override name = 'NotFoundError';
}

export async function listLive(c: Coordinator): Promise<ListLiveResponse> {
  const running = await c.store.attemptsInState(['running']);
  const sessions = [];
  for (const a of running) {
    const task = await c.store.getTask(a.taskId);
    sessions.push({
      taskId: a.taskId, title: task?.title ?? '', project: task?.project ?? '', attempt: a.number, node: a.node, agent: a.agent,
      model: a.model, session: a.session, startedAt: (a.startedAt ?? a.createdAt).toISOString(),
      lastOutputAt: c.hub.lastOutputAt(a.taskId, a.number)?.toISOString() ?? '', outputBytes: c.hub.size(a.taskId, a.number),
    });
  }
  return { sessions };
}

type OutputCall = ServerWritableStream<ReadOutputRequest, OutputEvent>;

/** One attempt's stored output; with `follow`, what it writes next too, until it ends. */
export async function readOutput(c: Coordinator, call: OutputCall): Promise<void> {
  const { taskId, follow } = call.request;
  const task = await c.store.getTask(taskId);
  if (!task) throw new NotFoundError(`task ${taskId} not found`);
  const attempts = await c.store.listAttempts(taskId);
  if (!attempts.length) throw new InvalidArgument(`task ${taskId} has no attempts yet (${task.status}): no output`);
  const n = call.request.attempt || attempts.at(-1)!.number;
  const a = attempts.find((x) => x.number === n);
  if (!a) throw new InvalidArgument(`task ${taskId} has no attempt ${n} (it has attempts 1 to ${attempts.at(-1)!.number})`);
  const live = follow && (a.state === 'running' || a.state === 'assigned');
  let sent = 0;
  const buffered: OutputEvent[] = [];
  let replaying = true;
  let closed = false;
  let unsub = () => {};
  const close = () => { if (closed) return; closed = true; unsub(); call.end(); };
  const deliver = (e: OutputEvent) => {
    if (closed || e.attempt !== n) return;
    if (e.end) { close(); return; }
    const end = e.offset + e.data.length;
    if (end <= sent) return;
    const data = e.offset < sent ? e.data.subarray(sent - e.offset) : e.data;
    call.write({ ...e, offset: Math.max(e.offset, sent), data: Buffer.from(data) });
    sent = end;
  };
  if (live) {
    // Subscribed before the replay so nothing written meanwhile is missed (overlap is cut by offset).
    unsub = c.hub.subscribe(taskId, (e) => (replaying ? buffered.push(e) : deliver(e)));
    call.on('cancelled', () => { closed = true; unsub(); });
  }
  await c.hub.replay(taskId, n, c.hub.size(taskId, n), (e) => { if (!closed) { call.write(e); sent = e.offset + e.data.length; } });
  replaying = false;
  for (const e of buffered.splice(0)) deliver(e);
  if (!live) { close(); return; }
  // It may have ended while we replayed.
  const now = await c.store.getAttempt(taskId, n);
  if (now && now.state !== 'running' && now.state !== 'assigned') {
    await c.hub.replay(taskId, n, c.hub.size(taskId, n), (e) => deliver(e));
    close();
  }
}

type LogCall = ServerWritableStream<ReadLogRequest, LogLine>;

/** The last lines of the coordinator's log file, then (following) every new record. */
export function readLog(c: Coordinator, call: LogCall): void {
  const n = call.request.lines > 0 ? Math.min(call.request.lines, 100_000) : 50;
  try {
    for (const line of tailLog(c.deps.paths.coordinatorLog, n)) call.write({ line });
  } catch (err) {
    failStream(call, err);
    return;
  }
  if (!call.request.follow) { call.end(); return; }
  const stop = addLogSink({ write: (l) => { call.write({ line: l.trimEnd() }); } });
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);
}
