// The chat turn as text, both ways (pure): the fleet state and the conversation become the
// prompt the chat agent reads; the agent's answer becomes a reply and proposed actions. An
// answer that is not the JSON asked for is shown as it is, with no actions.
import type { OrchConfig } from '../../runtime/config/index.js';
import type { ChatActionRow, ChatMessageRow, FailureRow } from '../store/chat.js';
import type { NodeSnapshot } from '../placement.js';
import type { TaskRow } from '../store/rows.js';
import { jsonCandidates } from '../../agent-node/answer.js';

export const ACTION_OPS = ['create', 'retry', 'unblock', 'close'] as const;

export interface FleetState {
  at: Date;
  /** Every task not done, and the most recently finished ones. */
  tasks: Array<Pick<TaskRow, 'id' | 'title' | 'status' | 'agent' | 'model' | 'project' | 'attempts' | 'reason' | 'updatedAt'> & { node?: string }>;
  nodes: NodeSnapshot[];
  failures: FailureRow[];
  projects: string[];
}

export const CHAT_SYSTEM = `You are the operations assistant of orch, which runs coding tasks with AI coding agents (in git worktrees and tmux sessions) on a fleet of machines.
Answer the operator from the fleet state in the message: it is current, so do not guess beyond it. You run nothing yourself: you may propose actions, which orch shows the operator and runs through its own API.
Answer with exactly one JSON object and nothing else:
{"reply": "<your answer, plain text>", "actions": []}
Each action is one of:
{"op": "create", "title": "<task title>", "body": "<what to do>", "project": "<project name, optional>", "agent": "<agent, optional>", "why": "<one line>"}
{"op": "retry", "task_id": <id>, "why": "<one line>"}
{"op": "unblock", "task_id": <id>, "why": "<one line>"}
{"op": "close", "task_id": <id>, "note": "<closing note>", "why": "<one line>"}
Propose actions only when the operator asks for a change; for questions, leave "actions" empty.`;

const clip = (s: string, n: number) => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
};

/** The message the chat agent reads: the fleet now, the conversation so far, the operator's words. */
export function chatPrompt(state: FleetState, history: ChatMessageRow[], session: string, message: string): string {
  const open = state.tasks.filter((t) => t.status !== 'done');
  const done = state.tasks.filter((t) => t.status === 'done');
  const task = (t: FleetState['tasks'][number]) =>
    `#${t.id} ${t.status}${t.agent ? ` agent=${t.agent}${t.model ? '/' + t.model : ''}` : ''}${t.node ? ` node=${t.node}` : ''} attempts=${t.attempts} project=${t.project} "${clip(t.title, 120)}"${t.reason ? ` (${clip(t.reason, 160)})` : ''}`;
  const lines = [
    `# Fleet state at ${state.at.toISOString()}`,
    '',
    `## Tasks not done (${open.length})`,
    ...(open.length ? open.map(task) : ['none']),
    '',
    `## Recently done (${done.length})`,
    ...(done.length ? done.map(task) : ['none']),
    '',
    `## Nodes (${state.nodes.length})`,
    ...(state.nodes.length ? state.nodes.map((n) => `${n.name} ${n.state} slots=${n.slots} running=${n.inFlight} agents=${n.agents.join(',') || '-'}`) : ['none']),
    '',
    `## Failed attempts in the last 24 h (${state.failures.length})`,
    ...(state.failures.length ? state.failures.map((f) => `#${f.taskId} attempt ${f.attempt} on ${f.node || '-'} (${f.agent}) at ${f.finishedAt.toISOString()}: ${f.errorClass || 'failed'}: ${clip(f.errorMessage, 200)}`) : ['none']),
    '',
    `## Projects: ${state.projects.join(', ') || 'none'}`,
    '',
    `## Conversation so far (session ${session})`,
    ...(history.length ? history.map((m) => `${m.role}: ${clip(m.role === 'actions' ? m.actions.map(describeAction).join('; ') : m.text, 600)}`) : ['(new conversation)']),
    '',
    '## Operator',
    message,
  ];
  return lines.join('\n') + '\n';
}

/** One line for a person: `retry task #4`, `create task "Fix CI" in local/demo`. */
export function describeAction(a: ChatActionRow): string {
  const base = a.op === 'create'
    ? `create task "${a.title}"${a.project ? ` in ${a.project}` : ''}${a.agent ? ` with ${a.agent}` : ''}`
    : `${a.op} task #${a.taskId}${a.op === 'close' && a.note ? ` (note: ${a.note})` : ''}`;
  return `${base}${a.outcome ? ` [${a.outcome}]` : ''}`;
}

export interface ParsedAnswer {
  reply: string;
  actions: ChatActionRow[];
  /** Not the JSON asked for: `reply` is the raw text. */
  malformed: boolean;
  /** Why parts of an otherwise good answer were dropped (logged). */
  problems: string[];
}

/** The JSON object of the answer: bare, in a ```json fence, or amid prose (the agents' answer convention, agent-node/answer.ts). */
function jsonObject(text: string): unknown {
  for (const candidate of jsonCandidates(text)) {
    try {
      const v = JSON.parse(candidate) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v;
    } catch { /* next candidate */ }
  }
  return undefined;
}

function action(raw: unknown, i: number, problems: string[]): ChatActionRow | undefined {
  const a = raw as Record<string, unknown>;
  if (!a || typeof a !== 'object') return void problems.push(`action ${i + 1} is not an object`);
  const op = String(a.op ?? '');
  if (!(ACTION_OPS as readonly string[]).includes(op)) return void problems.push(`action ${i + 1}: unknown op "${op}" (known: ${ACTION_OPS.join(', ')})`);
  const str = (k: string) => (typeof a[k] === 'string' ? (a[k] as string).trim() : '');
  const why = str('why');
  if (op === 'create') {
    const title = str('title');
    if (!title) return void problems.push(`action ${i + 1}: create without a title`);
    return { op, title, body: str('body'), project: str('project'), agent: str('agent'), why };
  }
  const id = Number(a.task_id ?? a.taskId ?? a.id);
  if (!Number.isInteger(id) || id <= 0) return void problems.push(`action ${i + 1}: ${op} without a task_id`);
  return { op, taskId: id, ...(op === 'close' ? { note: str('note') } : {}), why };
}

export function parseChatAnswer(text: string): ParsedAnswer {
  const v = jsonObject(text) as Record<string, unknown> | undefined;
  if (!v || typeof v.reply !== 'string') {
    return { reply: text.trim(), actions: [], malformed: true, problems: [v ? 'the JSON has no "reply" string' : 'the answer is not a JSON object'] };
  }
  const problems: string[] = [];
  const list = v.actions === undefined || v.actions === null ? [] : Array.isArray(v.actions) ? v.actions : (problems.push('"actions" is not a list'), []);
  const actions = list.map((a, i) => action(a, i, problems)).filter((a): a is ChatActionRow => !!a);
  return { reply: v.reply.trim(), actions, malformed: false, problems };
}

/** `[agent:]model` against the config: an explicit agent, an agent's name alone, or the agent that lists the model. */
export function resolveModelSpec(spec: string, config: OrchConfig, agents: string[], current: string): { agent: string; model: string } {
  const s = spec.trim();
  const colon = s.indexOf(':');
  if (colon > 0) return { agent: s.slice(0, colon), model: s.slice(colon + 1) };
  if (agents.includes(s) || config.agents?.[s]) return { agent: s, model: '' };
  for (const [name, a] of Object.entries(config.agents ?? {})) {
    if (a?.models?.includes(s) || a?.model === s) return { agent: name, model: s };
  }
  for (const tier of Object.values(config.model_map ?? {})) {
    for (const [name, m] of Object.entries(tier)) {
      if ((Array.isArray(m) ? m : [m]).includes(s)) return { agent: name, model: s };
    }
  }
  return { agent: current, model: s };
}
