// Small read-only commands: version, config, agents, nodes, status.
import type { Argv } from 'yargs';
import type { GetConfigResponse, ListAgentsResponse, ListNodesResponse, StatusResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { NodeInfo } from '../../proto/gen/orch/v1/types.js';
import { CliError, withApi, type GlobalArgs } from '../client.js';
import { ago, printJson, table, toJson } from '../format.js';
import { VERSION } from '../version.js';

type Args = GlobalArgs & Record<string, unknown>;

export function infoCommands(y: Argv): Argv {
  return y
    .command('version', 'Show the version', {}, async (argv: Args) => {
      if (argv.json) printJson({ version: VERSION });
      else process.stdout.write(`orch ${VERSION}\n`);
    })
    .command('status', 'Show the coordinator this CLI talks to', {}, async (argv: Args) => withApi(argv, async (api) => {
      const s = await api.call<'getStatus', object, StatusResponse>('getStatus', {});
      if (argv.json) return printJson(toJson(s));
      process.stdout.write(`orch ${s.version} (${s.mode}) on ${s.listen}, pid ${s.pid}, up since ${s.startedAt}, ${s.role} (epoch ${s.epoch})\ndatabase: ${s.database}\nbus:      ${s.bus}\n`);
    }))
    .command('config <key>', 'Read a config value (e.g. workflow.max_attempts)', (a) => a
      .positional('key', { type: 'string', demandOption: true })
      .option('project', { alias: 'p', type: 'string', describe: 'With this project\'s .orch.yml overrides' }),
    async (argv: Args) => withApi(argv, async (api) => {
      const r = await api.call<'getConfig', object, GetConfigResponse>('getConfig', { key: String(argv.key), project: argv.project ?? '' });
      if (!r.found) throw new CliError(`config key "${argv.key}" is not set`);
      if (argv.json) printJson({ key: argv.key, value: r.value });
      else process.stdout.write(r.value + '\n');
    }))
    .command('agents', 'List agents and where they are installed', {}, async (argv: Args) => withApi(argv, async (api) => {
      const { agents } = await api.call<'listAgents', object, ListAgentsResponse>('listAgents', {});
      if (argv.json) return printJson(toJson(agents));
      process.stdout.write(table(['NODE', 'AGENT', 'KIND', 'FOUND', 'PATH', 'VERSION', 'MODELS'],
        agents.map((a) => [a.node || '-', a.name, a.kind, a.installed ? 'yes' : 'no', a.path || a.command, a.version || '-', a.models.join(',') || '-'])));
    }));
}

export function nodeListCommand(y: Argv): Argv {
  const drain = (undo: boolean) => async (argv: Args) => withApi(argv, async (api) => {
    const n = await api.call<'drainNode', object, NodeInfo>('drainNode', { name: String(argv.name), undo, reason: argv.reason ?? '' });
    if (argv.json) return printJson(toJson(n));
    process.stdout.write(undo ? `node ${n.name} takes work again (${n.state})\n` : `node ${n.name} drained: no new work; its ${n.running} running attempt(s) finish\n`);
  });
  return y
    .command('list', 'List agent-nodes', {}, async (argv: Args) => withApi(argv, async (api) => {
      const { nodes } = await api.call<'listNodes', object, ListNodesResponse>('listNodes', {});
      if (argv.json) return printJson(toJson(nodes));
      if (!nodes.length) return void process.stdout.write('no nodes registered\n');
      process.stdout.write(table(['NAME', 'STATE', 'SLOTS', 'RUNNING', 'AGENTS', 'ADDRESS', 'HEARTBEAT'],
        nodes.map((n) => [n.name, n.drainReason ? `${n.state} (${n.drainReason})` : n.state, n.slots, n.running, n.agents.filter((a) => a.installed).map((a) => a.name).join(',') || '-', n.address || '-', ago(n.lastHeartbeat)])));
    }))
    .command('drain <name>', 'Stop placing work on a node; its running attempts finish', (a) => a
      .positional('name', { type: 'string', demandOption: true })
      .option('reason', { type: 'string', describe: 'Shown in orch node list' }), drain(false))
    .command('resume <name>', 'Place work on a drained node again', (a) => a.positional('name', { type: 'string', demandOption: true }), drain(true));
}
