// ControlSession (`orch chat`): one turn = the fleet state read from the store and the node
// registry + the session's recent history -> a one-shot ask to the chat agent on a node ->
// the parsed reply and proposed actions, both sides of the turn stored. It runs no action:
// the CLI shows each one and runs it through the Coordinator API.
import type { OrchConfig } from '../../runtime/config/index.js';
import { logger } from '../../runtime/log.js';
import { redact } from '../../runtime/redact.js';
import { AskError, type Asker } from '../ask.js';
import type { NodeSnapshot } from '../placement.js';
import type { ChatActionRow, ChatMessageRow, ChatStore } from '../store/chat.js';
import type { Store } from '../store/store.js';
import { RefusedError } from '../task-actor.js';
import { CHAT_SYSTEM, chatPrompt, parseChatAnswer, resolveModelSpec, type FleetState } from './prompt.js';

const log = logger('chat');

const HISTORY_TURNS = 20;
const RECENT_DONE = 10;
const FAILURE_WINDOW_MS = 24 * 3600_000;

export interface ControlSessionDeps {
  store: Store;
  chats: ChatStore;
  asker: Asker;
  config: () => OrchConfig;
  snapshots: () => NodeSnapshot[];
  /** Agents installed on live nodes. */
  fleetAgents: () => string[];
}

export interface ChatTurn {
  session: string;
  reply: string;
  actions: ChatActionRow[];
  malformed: boolean;
  agent: string;
  model: string;
  node: string;
  durationMs: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  messageId: number;
}

export interface EffectiveModel { agent: string; model: string; source: 'session' | 'config' | 'router' | 'available' }

export class ControlSession {
  constructor(private readonly d: ControlSessionDeps) {}

  /** Who answers in this session: its own choice, else chat.agent, else router.agent, else the first agent a live node has. */
  async effective(session: string): Promise<EffectiveModel & { messages: number }> {
    const s = await this.d.chats.session(session);
    const cfg = this.d.config();
    if (s.agent) return { agent: s.agent, model: s.model, source: 'session', messages: s.messages };
    if (cfg.chat?.agent) return { agent: cfg.chat.agent, model: cfg.chat.model ?? '', source: 'config', messages: s.messages };
    if (cfg.router?.agent) return { agent: cfg.router.agent, model: cfg.chat?.model ?? cfg.router.model ?? '', source: 'router', messages: s.messages };
    const first = this.d.fleetAgents()[0];
    if (!first) throw new RefusedError('no agent is available for chat: no live node reports an installed agent (set chat.agent in config.yml, and start a node)');
    return { agent: first, model: cfg.chat?.model ?? '', source: 'available', messages: s.messages };
  }

  /** `/model [agent:]model`: the session's agent and model from now on. */
  async setModel(session: string, spec: string): Promise<EffectiveModel & { messages: number }> {
    const current = await this.effective(session).catch(() => ({ agent: '', model: '' }));
    const { agent, model } = resolveModelSpec(spec, this.d.config(), this.d.fleetAgents(), current.agent);
    if (!agent) throw new RefusedError(`cannot tell which agent runs model "${spec}": use agent:model (e.g. claude:${spec})`);
    await this.d.chats.setModel(session, agent, model);
    return this.effective(session);
  }

  async fleetState(): Promise<FleetState> {
    const all = await this.d.store.listTasks({});
    const open = all.filter((t) => t.status !== 'done');
    const done = all.filter((t) => t.status === 'done').sort((a, b) => +b.updatedAt - +a.updatedAt).slice(0, RECENT_DONE);
    const tasks: FleetState['tasks'] = [];
    for (const t of [...open, ...done]) {
      let node: string | undefined;
      if (t.status === 'in_progress') node = (await this.d.store.listAttempts(t.id)).at(-1)?.node;
      tasks.push({ id: t.id, title: t.title, status: t.status, agent: t.agent, model: t.model, project: t.project, attempts: t.attempts, reason: t.reason, updatedAt: t.updatedAt, node });
    }
    return {
      at: new Date(), tasks, nodes: this.d.snapshots(),
      failures: await this.d.chats.recentFailures(new Date(Date.now() - FAILURE_WINDOW_MS), 10),
      projects: (await this.d.store.listProjects()).map((p) => p.name),
    };
  }

  async send(session: string, message: string): Promise<ChatTurn> {
    // A token pasted into the chat is masked before it reaches the store or an agent.
    const text = redact(message.trim());
    if (!text) throw new RefusedError('an empty message: say what you want to know or do');
    const who = await this.effective(session);
    const history: ChatMessageRow[] = await this.d.chats.history({ session, limit: HISTORY_TURNS });
    const prompt = chatPrompt(await this.fleetState(), history, session, text);
    await this.d.chats.append({ session, role: 'user', text, actions: [], agent: '', model: '' });
    const timeoutMs = (this.d.config().chat?.timeout_seconds ?? 120) * 1000;
    let r;
    try {
      r = await this.d.asker.ask({ purpose: 'chat', agent: who.agent, model: who.model || undefined, system: CHAT_SYSTEM, prompt, timeoutMs });
    } catch (err) {
      if (err instanceof AskError) throw new RefusedError(`the chat agent ${who.agent}${who.model ? `/${who.model}` : ''} did not answer (${err.errorClass}): ${err.message}`);
      throw err;
    }
    const parsed = parseChatAnswer(r.text);
    if (parsed.malformed || parsed.problems.length) {
      log.warn(parsed.malformed ? 'chat answer is not the JSON asked for; shown as plain text' : 'chat answer had unusable actions; dropped', {
        session, agent: r.agent, model: r.model, problems: parsed.problems, answer: r.text.slice(0, 500),
      });
    }
    const saved = await this.d.chats.append({ session, role: 'assistant', text: parsed.reply, actions: parsed.actions, agent: r.agent, model: r.model });
    return {
      session, reply: parsed.reply, actions: parsed.actions, malformed: parsed.malformed, agent: r.agent, model: r.model, node: r.node,
      durationMs: r.durationMs, inputTokens: r.inputTokens, outputTokens: r.outputTokens, costUsd: r.costUsd, messageId: saved.id,
    };
  }

  /** What became of a reply's actions (run, refused, declined), as a message of the session. */
  async recordActions(session: string, replyId: number, actions: ChatActionRow[]): Promise<ChatMessageRow> {
    const reply = await this.d.chats.message(replyId);
    if (!reply || reply.session !== session || reply.role !== 'assistant') throw new RefusedError(`message ${replyId} is not a reply in session ${session}`);
    return this.d.chats.append({ session, role: 'actions', text: `actions of reply ${replyId}`, actions, agent: '', model: '' });
  }
}
