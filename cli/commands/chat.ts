// `orch chat`: the ops conversation. One-shot (`orch chat "what is running?"`) or a REPL
// (`orch chat`, with /model, /session, /help, /quit); named sessions (--session); `orch chat
// history [--search TEXT]`. The coordinator answers from the fleet state; each action the
// assistant proposes is shown first and runs only through the Coordinator API: with --yes,
// or when confirmed (y/N) on a terminal; otherwise it is shown and not run.
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { createInterface, type Interface } from 'node:readline';
import type { Argv } from 'yargs';
import { ChatClient, type ChatAction, type ChatHistoryResponse, type ChatMessage, type ChatReply, type ChatSession } from '../../proto/gen/orch/v1/chat.js';
import type { Task } from '../../proto/gen/orch/v1/types.js';
import { CliError, withApi, type Api, type GlobalArgs } from '../client.js';
import { printJson, toJson } from '../format.js';

type Args = GlobalArgs & { message?: string[]; session?: string; yes?: boolean; search?: string; limit?: number };
type Method = 'send' | 'history' | 'session' | 'recordActions';

/** The Chat service on the coordinator the Api reaches (its first address that answers). */
async function chatCall<Res>(api: Api, method: Method, req: object, timeoutMs = 300_000): Promise<Res> {
  for (let i = 0; ; i++) {
    const client = new ChatClient(api.addresses[i], credentials.createInsecure());
    try {
      return await new Promise<Res>((resolve, reject) => {
        (client[method] as unknown as (r: object, md: unknown, o: object, cb: (e: ServiceError | null, r: Res) => void) => void)
          .call(client, req, api.metadata, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
      });
    } catch (err) {
      const e = err as ServiceError;
      if (e.code !== status.UNAVAILABLE || i + 1 >= api.addresses.length) throw api.explain(e);
    } finally {
      client.close();
    }
  }
}

function describe(a: ChatAction): string {
  if (a.op === 'create') return `create task "${a.title}"${a.project ? ` in ${a.project}` : ''}${a.agent ? ` with ${a.agent}` : ''}`;
  return `${a.op} task #${a.taskId}${a.op === 'close' && a.note ? ` (note: ${a.note})` : ''}`;
}

/** Run one action through the Coordinator API; the outcome as it is recorded. */
async function runAction(api: Api, a: ChatAction): Promise<{ outcome: string; line: string }> {
  try {
    let t: Task;
    switch (a.op) {
      case 'create':
        t = await api.call<'addTask', object, Task>('addTask', { title: a.title, body: a.body, agent: a.agent, project: a.project, labels: [], complexity: '', internal: false });
        return { outcome: `done: created #${t.id}`, line: `created task #${t.id} in ${t.project}: ${t.title}` };
      case 'retry':
        t = await api.call<'retryTask', object, Task>('retryTask', { id: a.taskId });
        return { outcome: `done: ${t.status}`, line: `task #${t.id} reset (${t.status})` };
      case 'unblock':
        t = await api.call<'unblockTask', object, Task>('unblockTask', { id: a.taskId });
        return { outcome: `done: ${t.status}`, line: `task #${t.id} unblocked (${t.status})` };
      case 'close':
        t = await api.call<'closeTask', object, Task>('closeTask', { id: a.taskId, note: a.note || 'closed from orch chat' });
        return { outcome: `done: ${t.status}`, line: `task #${t.id} closed` };
      default:
        return { outcome: `refused: unknown op ${a.op}`, line: `not run: unknown action ${a.op}` };
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { outcome: `refused: ${msg}`, line: `not run: ${msg}` };
  }
}

class Conversation {
  private rl: Interface | undefined;
  readonly interactive = !!(process.stdin.isTTY && process.stdout.isTTY);

  constructor(private readonly api: Api, public session: string, private readonly o: { yes: boolean; json: boolean }) {}

  private out(s: string): void { process.stdout.write(s); }

  private ask(question: string): Promise<string> {
    this.rl ??= createInterface({ input: process.stdin, output: process.stdout });
    return new Promise((resolve) => this.rl!.question(question, resolve));
  }

  /** One turn: send, show the reply, show each action, run the ones allowed, record what became of them. */
  async turn(message: string): Promise<void> {
    const r = await chatCall<ChatReply>(this.api, 'send', { session: this.session, message });
    const outcomes: ChatAction[] = [];
    const lines: string[] = [];
    if (!this.o.json) {
      this.out(`${r.reply}\n`);
      this.out(`  (${r.agent}${r.model ? '/' + r.model : ''} on ${r.node}, ${(r.durationMs / 1000).toFixed(1)} s${r.malformed ? '; the answer was not the JSON asked for, shown as it came' : ''})\n`);
      if (r.actions.length) this.out(`proposed action${r.actions.length > 1 ? 's' : ''}:\n${r.actions.map((a, i) => `  ${i + 1}. ${describe(a)}${a.why ? ` — ${a.why}` : ''}`).join('\n')}\n`);
    }
    for (const a of r.actions) {
      let run = this.o.yes;
      if (!run && this.interactive) run = /^y(es)?$/i.test((await this.ask(`run "${describe(a)}"? [y/N] `)).trim());
      if (!run) {
        const outcome = this.o.yes || this.interactive ? 'declined' : 'not run';
        outcomes.push({ ...a, outcome });
        lines.push(`${describe(a)}: ${outcome === 'declined' ? 'declined' : 'not run (pass --yes to run it, or confirm it at a terminal)'}`);
        continue;
      }
      const { outcome, line } = await runAction(this.api, a);
      outcomes.push({ ...a, outcome });
      lines.push(line);
    }
    if (outcomes.length) await chatCall<ChatMessage>(this.api, 'recordActions', { session: this.session, replyId: r.messageId, actions: outcomes });
    if (this.o.json) return printJson({ ...(toJson(r) as object), actions: toJson(outcomes.length ? outcomes : r.actions) });
    if (lines.length) this.out(lines.map((l) => `  ${l}`).join('\n') + '\n');
  }

  async model(spec: string): Promise<void> {
    const s = await chatCall<ChatSession>(this.api, 'session', spec ? { session: this.session, set: true, model: spec, agent: '' } : { session: this.session });
    this.out(`${spec ? 'now ' : ''}${s.agent}${s.model ? ':' + s.model : ''} (session ${s.name}${spec ? '' : `, from ${s.source}`})\n`);
  }

  async repl(): Promise<void> {
    const rl = (this.rl ??= createInterface({ input: process.stdin, output: process.stdout, terminal: this.interactive }));
    if (this.interactive) this.out(`orch chat, session ${this.session}: ask about the fleet or ask for a change; /help for commands\n`);
    const prompt = () => { if (this.interactive) { rl.setPrompt('orch> '); rl.prompt(); } };
    prompt();
    for await (const raw of rl) {
      const line = raw.trim();
      try {
        if (!line) { /* nothing */ } else if (line === '/quit' || line === '/exit') break;
        else if (line === '/help') this.out('/model [agent:]model   show or switch the agent and model\n/session NAME          switch to another session\n/history               this session\'s recent messages\n/quit                  leave\n');
        else if (line === '/model' || line.startsWith('/model ')) await this.model(line.slice(6).trim());
        else if (line.startsWith('/session ')) { this.session = line.slice(9).trim(); await this.model(''); }
        else if (line === '/history') showHistory((await chatCall<ChatHistoryResponse>(this.api, 'history', { session: this.session, limit: 20 })).messages, false);
        else if (line.startsWith('/')) this.out(`unknown command ${line.split(' ')[0]}: /help lists them\n`);
        else await this.turn(line);
      } catch (err) {
        process.stderr.write(`orch: ${err instanceof Error ? err.message : String(err)}\n`);
      }
      prompt();
    }
    rl.close();
  }

  close(): void { this.rl?.close(); }
}

function showHistory(messages: ChatMessage[], json: boolean | undefined): void {
  if (json) return printJson(toJson(messages));
  if (!messages.length) return void process.stdout.write('no messages\n');
  for (const m of messages) {
    const who = m.role === 'assistant' ? `orch (${m.agent}${m.model ? '/' + m.model : ''})` : m.role === 'actions' ? 'actions' : 'you';
    const body = m.role === 'actions' ? m.actions.map((a) => `${describe(a)} [${a.outcome || 'not run'}]`).join('; ') : m.text;
    process.stdout.write(`${m.at}  [${m.session}] ${who}: ${body}\n`);
    if (m.role === 'assistant' && m.actions.length) process.stdout.write(`    proposed: ${m.actions.map(describe).join('; ')}\n`);
  }
}

export function chatCommands(y: Argv): Argv {
  return y
    .option('session', { alias: 's', type: 'string', describe: 'Named session, with its own history and model (default: "default"; history: every session)' })
    .command('history', 'Show recent chat messages', (a) => a
      .option('search', { type: 'string', describe: 'Only messages containing this text' })
      .option('limit', { type: 'number', default: 50 }),
    async (argv: Args) => withApi(argv, async (api) => {
      const r = await chatCall<ChatHistoryResponse>(api, 'history', { session: argv.session ?? '', search: argv.search ?? '', limit: argv.limit ?? 50 });
      showHistory(r.messages, argv.json);
    }))
    .command('$0 [message..]', 'Ask about the fleet or ask for a change (no message: a REPL)', (a) => a
      .positional('message', { type: 'string', array: true, describe: 'One message (quote it); without: the REPL' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Run the proposed actions without asking' }),
    async (argv: Args) => withApi(argv, async (api) => {
      const c = new Conversation(api, String(argv.session || 'default'), { yes: !!argv.yes, json: !!argv.json });
      try {
        const message = (argv.message ?? []).join(' ').trim();
        if (message) await c.turn(message);
        else if (argv.json) throw new CliError('--json needs a message (one-shot mode)');
        else await c.repl();
      } finally {
        c.close();
      }
    }));
}
