// `orch chat` in the store: sessions (their chosen agent and model) and the messages of each
// conversation, with the actions an assistant proposed and what became of them.
import type pg from 'pg';

export interface ChatActionRow {
  op: string;
  taskId?: number;
  title?: string;
  body?: string;
  project?: string;
  agent?: string;
  note?: string;
  why?: string;
  outcome?: string;
}

export interface ChatSessionRow { name: string; agent: string; model: string; messages: number }

export interface ChatMessageRow {
  id: number;
  session: string;
  role: 'user' | 'assistant' | 'actions';
  text: string;
  actions: ChatActionRow[];
  agent: string;
  model: string;
  at: Date;
}

/** An attempt that failed recently: what the assistant is told about failures. */
export interface FailureRow { taskId: number; title: string; attempt: number; node: string; agent: string; errorClass: string; errorMessage: string; finishedAt: Date }

function messageRow(r: Record<string, any>): ChatMessageRow {
  return { id: Number(r.id), session: r.session, role: r.role, text: r.text, actions: r.actions ?? [], agent: r.agent, model: r.model, at: r.at };
}

export class ChatStore {
  constructor(private readonly pool: pg.Pool) {}

  /** The session, made on first use. */
  async session(name: string): Promise<ChatSessionRow> {
    await this.pool.query('insert into chat_sessions (name) values ($1) on conflict (name) do nothing', [name]);
    const r = await this.pool.query(
      'select s.name, s.agent, s.model, (select count(*) from chat_messages m where m.session = s.name) as messages from chat_sessions s where s.name = $1', [name]);
    return { name: r.rows[0].name, agent: r.rows[0].agent, model: r.rows[0].model, messages: Number(r.rows[0].messages) };
  }

  async setModel(name: string, agent: string, model: string): Promise<ChatSessionRow> {
    await this.session(name);
    await this.pool.query('update chat_sessions set agent = $2, model = $3, updated_at = now() where name = $1', [name, agent, model]);
    return this.session(name);
  }

  async append(m: Omit<ChatMessageRow, 'id' | 'at'>): Promise<ChatMessageRow> {
    await this.session(m.session);
    const r = await this.pool.query(
      'insert into chat_messages (session, role, text, actions, agent, model) values ($1, $2, $3, $4, $5, $6) returning *',
      [m.session, m.role, m.text, JSON.stringify(m.actions), m.agent, m.model]);
    await this.pool.query('update chat_sessions set updated_at = now() where name = $1', [m.session]);
    return messageRow(r.rows[0]);
  }

  async message(id: number): Promise<ChatMessageRow | undefined> {
    const r = await this.pool.query('select * from chat_messages where id = $1', [id]);
    return r.rows[0] ? messageRow(r.rows[0]) : undefined;
  }

  /** The last `limit` messages (of one session, or all), oldest first; `search` matches text case-insensitively. */
  async history(o: { session?: string; search?: string; limit: number }): Promise<ChatMessageRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (o.session) { args.push(o.session); where.push(`session = $${args.length}`); }
    if (o.search) { args.push(`%${o.search.replace(/[\\%_]/g, (c) => '\\' + c)}%`); where.push(`(text ilike $${args.length} or actions::text ilike $${args.length})`); }
    args.push(o.limit);
    const r = await this.pool.query(
      `select * from (select * from chat_messages ${where.length ? 'where ' + where.join(' and ') : ''} order by id desc limit $${args.length}) m order by id`, args);
    return r.rows.map(messageRow);
  }

  async recentFailures(since: Date, limit: number): Promise<FailureRow[]> {
    const r = await this.pool.query(
      `select a.task_id, t.title, a.number, a.node, a.agent, a.error_class, a.error_message, a.finished_at
         from attempts a join tasks t on t.id = a.task_id
        where a.state in ('failed', 'lost', 'killed') and a.finished_at >= $1
        order by a.finished_at desc limit $2`, [since, limit]);
    return r.rows.map((x) => ({ taskId: Number(x.task_id), title: x.title, attempt: x.number, node: x.node, agent: x.agent, errorClass: x.error_class, errorMessage: x.error_message, finishedAt: x.finished_at }));
  }
}
