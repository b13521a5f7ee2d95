// `orch node remove NAME`: undo a deploy. Drain the node at the coordinator (and let its
// running attempts finish), stop and remove its service, its config and its install on
// the host (its repos, worktrees and task state too with --purge), then forget it at
// the coordinator and drop the local deploy record.
import { rmSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { ListNodesResponse } from '../../proto/gen/orch/v1/coordinator.js';
import { CliError, type Api } from '../client.js';
import { readRecord, recordFile, type Say } from './deploy.js';
import { removeService, stopService } from './service.js';
import { sq, SshHost } from './ssh.js';

export interface RemoveOptions {
  name: string;
  localDir: string;
  /** Remove the whole ORCH_HOME on the host (mirrors, worktrees, task state). */
  purge: boolean;
  /** How long running attempts may take to finish after the drain; 0: do not wait. */
  drainSeconds: number;
  identity?: string;
}

async function running(api: Api, name: string): Promise<number | undefined> {
  const { nodes } = await api.call<'listNodes', object, ListNodesResponse>('listNodes', {});
  return nodes.find((n) => n.name === name)?.running;
}

export async function removeNode(api: Api, o: RemoveOptions, say: Say): Promise<void> {
  const t0 = Date.now();
  const took = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
  /** Say what is being done, do it, say how long it took. */
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    say(what);
    const t = Date.now();
    const v = await fn();
    say(`      done (${took(t)})`);
    return v;
  };
  const rec = readRecord(o.localDir, o.name);
  const known = (await running(api, o.name)) !== undefined;
  if (!rec && !known) throw new CliError(`no node named ${o.name}: it was not deployed from this machine (no ${recordFile(o.localDir, o.name)}) and the coordinator does not know it`);

  if (known) {
    await step(`draining ${o.name} at the coordinator`, () => api.call('drainNode', { name: o.name, undo: false, reason: 'being removed (orch node remove)' })
      .catch((err: Error) => say(`      (drain: ${err.message})`)));
    const end = Date.now() + o.drainSeconds * 1000;
    for (let n = await running(api, o.name); n; n = await running(api, o.name)) {
      if (Date.now() > end) {
        throw new CliError(`${o.name} still runs ${n} attempt(s) after ${o.drainSeconds} s: wait, or pass --drain-seconds 0 to stop it anyway (its attempts are then retried elsewhere)`);
      }
      say(`      waiting for ${n} running attempt(s) to finish`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  if (rec) {
    const ssh = await step(`connecting to ${rec.user}@${rec.host}:${rec.port}`, () => SshHost.connect({ user: rec.user, host: rec.host, port: rec.port, identity: o.identity ?? rec.identity, knownHosts: rec.knownHosts, acceptNewHostKey: false }));
    try {
      const home = sq(rec.orchHome);
      // The node's tmux server (agent sessions outlive a node stop by design; not a removal).
      const cfg = parseDocument((await ssh.exec(`cat ${home}/config.yml 2>/dev/null`)).stdout).toJS() as { tmux?: { socket?: string } } | null;
      const socket = cfg?.tmux?.socket ?? 'orch';
      await step(`stopping ${rec.service.kind === 'supervised' ? 'the supervised node process' : `the systemd unit ${rec.service.unit}`} and its tmux server`, async () => {
        await stopService(ssh, rec.service, rec.params);
        await removeService(ssh, rec.service);
        await ssh.exec(`tmux -L ${sq(socket)} kill-server 2>/dev/null`);
      });
      await step(o.purge ? `removing ${rec.orchHome}` : `removing the config and install under ${rec.orchHome} (keeping repos, worktrees and state; --purge removes them)`,
        () => ssh.run('removing files', o.purge ? `rm -rf ${home}` : `rm -rf ${home}/config.yml ${home}/lib ${home}/bin ${home}/node.log ${home}/node.pid`));
    } finally {
      ssh.close();
    }
  } else {
    say(`no deploy record for ${o.name} on this machine: nothing to undo on its host; forgetting it at the coordinator only`);
  }

  if (known) {
    await step(`forgetting ${o.name} at the coordinator`, () => api.call('forgetNode', { name: o.name }, 30_000));
  }
  rmSync(recordFile(o.localDir, o.name), { force: true });
  say(`${o.name} removed (${took(t0)})`);
}
