// The orch CLI: yargs, one file per command group. User mistakes print one line
// (`orch: …`) and exit non-zero; only real bugs show a stack (with ORCH_DEBUG=1).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CliError } from './client.js';
import { chatCommands } from './commands/chat.js';
import { completionsCommand } from './commands/completions.js';
import { authCommands, boardCommands } from './commands/github.js';
import { infoCommands, nodeListCommand } from './commands/info.js';
import { initCommand } from './commands/init.js';
import { clusterCommands, nodeRevokeCommand } from './commands/cluster.js';
import { jobCommands } from './commands/job.js';
import { nodeDeployCommands } from './commands/deploy.js';
import { nodeStartCommand } from './commands/node.js';
import { logCommand } from './commands/observe.js';
import { projectCommands } from './commands/project.js';
import { serveCommand } from './commands/serve.js';
import { serviceCommands } from './commands/service.js';
import { streamCommand } from './commands/stream.js';
import { taskCommands } from './commands/task.js';
import { metricsCommand, showMetrics } from './commands/usage.js';
import { VERSION } from './version.js';

function fail(msg: string, code = 1): never {
  process.stderr.write(`orch: ${msg}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const cli = yargs(hideBin(process.argv))
    .scriptName('orch')
    .usage('orch <command> [options]\n\nDelegates coding tasks to AI coding agents across a fleet of machines.')
    .option('coordinator', { type: 'string', describe: 'Coordinator HOST:PORT (default: ORCH_COORDINATOR or the local `orch serve`)', global: true })
    .option('token', { type: 'string', describe: 'Cluster token (visible in ps: prefer ORCH_TOKEN or ORCH_TOKEN_FILE)', global: true })
    .option('json', { type: 'boolean', describe: 'Machine-readable output', global: true })
    .command(serveCommand)
    .command(initCommand)
    .command('task', 'Manage tasks', taskCommands)
    .command('project', 'Manage projects', projectCommands)
    .command('job', 'Manage scheduled jobs (cron)', jobCommands)
    .command('node', 'Manage agent-nodes', (y) => nodeRevokeCommand(nodeDeployCommands(nodeListCommand(nodeStartCommand(y)))).demandCommand(1, 'name a node command: start, list, drain, resume, deploy, remove, revoke'))
    .command('cluster', 'The fleet\'s join token and CLI certificates', clusterCommands)
    .command(streamCommand)
    .command(logCommand)
    .command('metrics', 'Tasks by status, success rate and cost by agent/model/node', metricsCommand, showMetrics)
    .command('auth', 'GitHub credentials', authCommands)
    .command('board', 'GitHub Projects V2 board of the project', boardCommands)
    .command('service', 'Run serve or node start as a user service (systemd, launchd)', serviceCommands)
    .command('chat', 'Ops conversation about the fleet: questions, and changes shown before they run', chatCommands)
    .command(completionsCommand);
  infoCommands(cli);
  await cli
    .version(VERSION)
    .alias('h', 'help')
    .demandCommand(1, 'name a command; `orch --help` lists them')
    .recommendCommands()
    .strict()
    .fail((msg, err) => {
      if (err) throw err;
      fail(`${msg}\nRun \`orch --help\` for usage.`, 2);
    })
    .parseAsync();
}

main().catch((err: unknown) => {
  if (err instanceof CliError) fail(err.message, err.exitCode);
  if (err instanceof Error && (err.name === 'ConfigError' || err.name === 'ProjectError')) fail(err.message, 2);
  if (process.env.ORCH_DEBUG) console.error(err);
  fail(err instanceof Error ? err.message : String(err));
});
