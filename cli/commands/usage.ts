// `orch task cost ID` and `orch metrics`: tokens (one convention: input excludes cache
// reads) and USD per attempt, per task, and by agent/model/node over a window.
import type { Argv } from 'yargs';
import type { CostGroup, MetricsResponse, TaskCostResponse, Usage } from '../../proto/gen/orch/v1/coordinator.js';
import { CliError, withApi, type GlobalArgs } from '../client.js';
import { printJson, table } from '../format.js';

type Args = GlobalArgs & Record<string, unknown>;

const usd = (n: number) => `$${n.toFixed(n > 0 && n < 0.01 ? 6 : 4)}`;
const cols = (u: Usage | undefined) => [u?.inputTokens ?? 0, u?.cacheReadTokens ?? 0, u?.cacheWriteTokens ?? 0, u?.outputTokens ?? 0, usd(u?.costUsd ?? 0)];
const USAGE_HEADERS = ['INPUT', 'CACHE READ', 'CACHE WRITE', 'OUTPUT', 'COST'];

function usageJson(u: Usage | undefined) {
  return { input_tokens: u?.inputTokens ?? 0, cache_read_tokens: u?.cacheReadTokens ?? 0, cache_write_tokens: u?.cacheWriteTokens ?? 0, output_tokens: u?.outputTokens ?? 0, cost_usd: u?.costUsd ?? 0 };
}

/** `24h`, `30m`, `7d`, `90s` or plain seconds -> seconds. */
export function parseSince(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw]?)$/.exec(v.trim());
  if (!m) throw new CliError(`--since "${v}" is not a duration: use e.g. 90s, 30m, 24h, 7d`);
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2] as '' | 's' | 'm' | 'h' | 'd' | 'w'];
  return Math.round(Number(m[1]) * mult);
}

export function taskCostCommand(y: Argv): Argv {
  return y.command('cost <id>', 'Tokens and cost of a task, per attempt and in total', (a) => a.positional('id', { type: 'string', demandOption: true }),
    async (argv: Args) => withApi(argv, async (api) => {
      const id = Number(argv.id);
      if (!Number.isInteger(id) || id <= 0) throw new CliError(`"${argv.id}" is not a task id (a positive number)`);
      const r = await api.call<'taskCost', object, TaskCostResponse>('taskCost', { id });
      if (argv.json) {
        return printJson({
          task: r.taskId,
          attempts: r.attempts.map((a) => ({ attempt: a.attempt, agent: a.agent, model: a.model, node: a.node, state: a.state, ...usageJson(a.usage), cost_source: a.costSource })),
          ...(r.routing ? { routing: usageJson(r.routing) } : {}),
          total: usageJson(r.total),
        });
      }
      const rows = r.attempts.map((a) => [a.attempt, a.agent, a.model || '-', a.node || '-', ...cols(a.usage)]);
      const u = r.routing;
      if (u && (u.inputTokens || u.outputTokens || u.costUsd)) rows.push(['routing', '', '', '', ...cols(u)]);
      rows.push(['total', '', '', '', ...cols(r.total)]);
      process.stdout.write(table(['#', 'AGENT', 'MODEL', 'NODE', ...USAGE_HEADERS], rows));
    }));
}

export function metricsCommand(y: Argv): Argv {
  return y.option('since', { type: 'string', default: '24h', describe: 'Window back from now (e.g. 1h, 24h, 7d; 0 = all time)' });
}

export async function showMetrics(argv: Args): Promise<void> {
  const sinceSeconds = parseSince(String(argv.since ?? '24h'));
  await withApi(argv, async (api) => {
    const r = await api.call<'getMetrics', object, MetricsResponse>('getMetrics', { sinceSeconds });
    const group = (g: CostGroup) => ({ key: g.key, attempts: g.attempts, ...usageJson(g.usage) });
    if (argv.json) {
      return printJson({
        since_seconds: r.sinceSeconds, tasks_by_status: r.tasksByStatus, attempts: r.attempts, attempts_succeeded: r.attemptsSucceeded,
        success_rate: r.successRate, errors_by_class: r.errorsByClass, total: usageJson(r.total),
        by_agent: r.byAgent.map(group), by_model: r.byModel.map(group), by_node: r.byNode.map(group),
        by_router: r.byRouter.map((g) => ({ key: g.key, agent: g.agent, model: g.model, calls: g.calls, routings: g.routings, ...usageJson(g.usage) })),
        routing: usageJson(r.routing),
      });
    }
    const out: string[] = [];
    out.push(`tasks (created in the window): ${Object.entries(r.tasksByStatus).map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}`);
    out.push(`attempts: ${r.attempts}, succeeded ${r.attemptsSucceeded}, success rate ${(r.successRate * 100).toFixed(1)}%`);
    if (Object.keys(r.errorsByClass).length) out.push(`errors: ${Object.entries(r.errorsByClass).map(([c, n]) => `${c} ${n}`).join(', ')}`);
    for (const [title, groups] of [['AGENT', r.byAgent], ['AGENT/MODEL', r.byModel], ['NODE', r.byNode]] as const) {
      if (!groups.length) continue;
      out.push('', table([title, 'ATTEMPTS', ...USAGE_HEADERS], groups.map((g) => [g.key, g.attempts, ...cols(g.usage)])).trimEnd());
    }
    // The LLM router's own calls, apart from the agent runs (they are in the total too).
    if (r.byRouter.length) {
      out.push('', table(['ROUTER', 'CALLS', 'ROUTINGS', ...USAGE_HEADERS], r.byRouter.map((g) => [g.key, g.calls, g.routings, ...cols(g.usage)])).trimEnd());
      out.push(`routing: ${cols(r.routing).join(' / ')}`);
    }
    out.push('', `total: ${cols(r.total).join(' / ')} (input / cache read / cache write / output / cost; agent runs and routing)`);
    process.stdout.write(out.join('\n') + '\n');
  });
}
