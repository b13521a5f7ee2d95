// How a deployed node keeps running on its host: a systemd unit (system-wide for root,
// a user unit otherwise) from deploy/systemd/orch-node.service, or, on a host whose
// PID 1 is not systemd (a container, a network namespace sharing one), the plain
// supervisor deploy/orch-node-supervise.sh started detached with a pid file in the
// node's ORCH_HOME. Start and stop are shell lines run over SSH; no secret is in any.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './bundle.js';
import { sq, type SshHost } from './ssh.js';

export type ServiceKind = 'systemd' | 'systemd-user' | 'supervised';

export interface NodeService {
  kind: ServiceKind;
  /** Unit name (systemd) or the supervisor's pid file. */
  unit: string;
  /** Where the unit file or supervisor script lives on the host. */
  file: string;
}

export interface ServiceParams {
  name: string;
  user: string;
  orchHome: string;
  node: string;
  orchJs: string;
}

export function chooseService(p: ServiceParams, systemd: boolean): NodeService {
  const unit = `orch-node-${p.name}.service`;
  if (systemd && p.user === 'root') return { kind: 'systemd', unit, file: `/etc/systemd/system/${unit}` };
  if (systemd) return { kind: 'systemd-user', unit, file: `$HOME/.config/systemd/user/${unit}` };
  return { kind: 'supervised', unit: `${p.orchHome}/node.pid`, file: `${p.orchHome}/bin/orch-node-supervise` };
}

/** The unit file text: the shipped template with its placeholders filled in. */
export function renderUnit(template: string, p: ServiceParams, kind: ServiceKind): string {
  let text = template
    .replaceAll('@NAME@', p.name).replaceAll('@USER@', p.user).replaceAll('@ORCH_HOME@', p.orchHome)
    .replaceAll('@NODE@', p.node).replaceAll('@ORCH_JS@', p.orchJs)
    .replaceAll('@WANTED_BY@', kind === 'systemd' ? 'multi-user.target' : 'default.target');
  if (kind !== 'systemd') text = text.replace(/^User=.*\n/m, ''); // a user unit runs as its user
  return text;
}

export function template(rel: string): string {
  return readFileSync(join(packageRoot(), 'deploy', rel), 'utf8');
}

/** Install (or replace) and (re)start the node's service; returns a line saying what runs it. */
export async function startService(ssh: SshHost, s: NodeService, p: ServiceParams): Promise<string> {
  const home = sq(p.orchHome);
  if (s.kind === 'supervised') {
    await stopService(ssh, s, p);
    await ssh.run('installing the supervisor', `mkdir -p ${home}/bin && cat > ${sq(s.file)} && chmod 755 ${sq(s.file)}`, template('orch-node-supervise.sh'));
    const out = await ssh.run('starting the node', [
      `cd ${home}`,
      `setsid nohup sh ${sq(s.file)} ${home} ${sq(p.node)} ${sq(p.orchJs)} </dev/null >>${home}/node.log 2>&1 &`,
      `i=0; while [ ! -s ${home}/node.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`,
      `cat ${home}/node.pid`,
    ].join('\n'));
    return `no systemd on this host: orch node runs under a supervisor process (pid ${out.trim()}, pid file ${p.orchHome}/node.pid, log ${p.orchHome}/node.log); it restarts the node on failure but does not start at boot`;
  }
  const ctl = s.kind === 'systemd' ? 'systemctl' : 'systemctl --user';
  const unitFile = s.file; // $HOME in a user unit's path is expanded by the host's shell
  await ssh.run('installing the systemd unit', `mkdir -p "$(dirname ${unitFile})" && cat > ${unitFile}`, renderUnit(template('systemd/orch-node.service'), p, s.kind));
  await ssh.run('starting the systemd unit', `${ctl} daemon-reload && ${ctl} enable ${s.unit} && ${ctl} restart ${s.unit}`);
  return `systemd ${s.kind === 'systemd' ? 'unit' : 'user unit'} ${s.unit} enabled and started` +
    (s.kind === 'systemd-user' ? ' (run `loginctl enable-linger` on the host so it runs while you are logged out)' : '');
}

/** Stop the node's service if it runs; a no-op when nothing runs. */
export async function stopService(ssh: SshHost, s: NodeService, p: ServiceParams): Promise<void> {
  if (s.kind === 'supervised') {
    const pid = `${sq(p.orchHome)}/node.pid`;
    await ssh.run('stopping the node', [
      `[ -s ${pid} ] || exit 0`,
      `p=$(cat ${pid}); kill -0 "$p" 2>/dev/null || { rm -f ${pid}; exit 0; }`,
      'kill -TERM "$p"',
      'i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
      'if kill -0 "$p" 2>/dev/null; then kill -KILL "$p"; fi',
      `rm -f ${pid}`,
    ].join('\n'));
    return;
  }
  const ctl = s.kind === 'systemd' ? 'systemctl' : 'systemctl --user';
  await ssh.run('stopping the systemd unit', `${ctl} disable --now ${s.unit} 2>/dev/null || true`);
}

/** Remove what startService installed (after stopService). */
export async function removeService(ssh: SshHost, s: NodeService): Promise<void> {
  if (s.kind === 'supervised') return void await ssh.run('removing the supervisor', `rm -f ${sq(s.file)}`);
  const ctl = s.kind === 'systemd' ? 'systemctl' : 'systemctl --user';
  const unitFile = s.file; // $HOME in a user unit's path is expanded by the host's shell
  await ssh.run('removing the systemd unit', `rm -f ${unitFile} && ${ctl} daemon-reload`);
}
