// The Chat gRPC service (`orch chat`): turns, history and each session's agent/model.
// Actions are not run here: the CLI runs them through the Coordinator service.
import type { ChatAction, ChatMessage, ChatServer } from '../../proto/gen/orch/v1/chat.js';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { ControlSession } from '../chat/control-session.js';
import type { Coordinator } from '../coordinator.js';
import { ChatStore, type ChatActionRow, type ChatMessageRow } from '../store/chat.js';
import { InvalidArgument, unary } from './handlers.js';
import type { Access } from './access.js';

const SESSION = /^[A-Za-z0-9_.-]{1,64}$/;

function sessionName(s: string): string {
  const name = s.trim() || 'default';
  if (!SESSION.test(name)) throw new InvalidArgument(`session name "${s}" must be 1-64 letters, digits, '.', '_' or '-'`);
  return name;
}

const actionToProto = (a: ChatActionRow): ChatAction => ({
  op: a.op, taskId: a.taskId ?? 0, title: a.title ?? '', body: a.body ?? '', project: a.project ?? '', agent: a.agent ?? '', note: a.note ?? '', why: a.why ?? '', outcome: a.outcome ?? '',
});
const actionFromProto = (a: ChatAction): ChatActionRow => ({
  op: a.op, ...(a.taskId ? { taskId: a.taskId } : {}), ...(a.title ? { title: a.title } : {}), ...(a.body ? { body: a.body } : {}), ...(a.project ? { project: a.project } : {}),
  ...(a.agent ? { agent: a.agent } : {}), ...(a.note ? { note: a.note } : {}), ...(a.why ? { why: a.why } : {}), ...(a.outcome ? { outcome: a.outcome } : {}),
});
const messageToProto = (m: ChatMessageRow): ChatMessage => ({
  id: m.id, session: m.session, role: m.role, text: m.text, actions: m.actions.map(actionToProto), agent: m.agent, model: m.model, at: m.at.toISOString(),
});

export function chatApi(c: Coordinator, token: Access | string | undefined): ChatServer & UntypedServiceImplementation {
  const chats = new ChatStore(c.deps.db.pool);
  const control = new ControlSession({
    store: c.store, chats, asker: c.asker, config: () => c.config,
    snapshots: () => c.registry.snapshots(), fleetAgents: () => c.registry.fleetAgents(),
  });
  return {
    send: unary(token, async (req) => {
      if (req.message.length > 20_000) throw new InvalidArgument(`a chat message of ${req.message.length} characters is too long (at most 20000)`);
      const t = await control.send(sessionName(req.session), req.message);
      return {
        session: t.session, reply: t.reply, actions: t.actions.map(actionToProto), malformed: t.malformed, agent: t.agent, model: t.model, node: t.node,
        durationMs: t.durationMs, inputTokens: t.inputTokens, outputTokens: t.outputTokens, costUsd: t.costUsd, messageId: t.messageId,
      };
    }),
    history: unary(token, async (req) => {
      const rows = await chats.history({ session: req.session ? sessionName(req.session) : undefined, search: req.search || undefined, limit: req.limit > 0 ? Math.min(req.limit, 1000) : 50 });
      return { messages: rows.map(messageToProto) };
    }),
    session: unary(token, async (req) => {
      const name = sessionName(req.session);
      const e = req.set ? await control.setModel(name, req.agent ? `${req.agent}:${req.model}` : req.model) : await control.effective(name);
      return { name, agent: e.agent, model: e.model, source: e.source, messages: e.messages };
    }),
    recordActions: unary(token, async (req) => messageToProto(await control.recordActions(sessionName(req.session), req.replyId, req.actions.map(actionFromProto)))),
  };
}
