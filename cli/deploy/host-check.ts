// What a host offers before orch is installed on it: OS, Node (>= 20), npm, git, tmux,
// systemd, and which agent CLIs are on its PATH. The probe is one POSIX sh script whose
// `key=value` lines are parsed and judged here without I/O.

/** Run by `sh -s` on the host. PATH as a non-interactive SSH session has it, plus the usual user bins. */
export const PROBE_SCRIPT = `
PATH="$HOME/.local/bin:$HOME/bin:/usr/local/bin:$PATH"; export PATH
v() { "$@" 2>/dev/null | head -n1; }
echo "os=$(uname -s) $(uname -r) $(uname -m)"
if [ -r /etc/os-release ]; then . /etc/os-release; echo "distro=$PRETTY_NAME"; fi
echo "user=$(id -un)"
echo "hostname=$(hostname 2>/dev/null || uname -n)"
echo "home=$HOME"
echo "node=$(command -v node)"
echo "node_version=$(v node --version)"
echo "npm_version=$(v npm --version)"
echo "git_version=$(v git --version)"
echo "tmux_version=$(v tmux -V)"
echo "tar=$(command -v tar)"
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then echo "systemd=yes"; else echo "systemd=no"; fi
echo "pid1=$(cat /proc/1/comm 2>/dev/null)"
for a in claude codex opencode gemini; do p=$(command -v $a 2>/dev/null) && echo "agent_$a=$p"; done
exit 0
`;

export interface HostFacts {
  os: string;
  distro: string;
  user: string;
  hostname: string;
  home: string;
  node: string;
  nodeVersion: string;
  npmVersion: string;
  git: string;
  tmux: string;
  hasTar: boolean;
  systemd: boolean;
  pid1: string;
  /** Agent CLIs found, name -> path. */
  agents: Record<string, string>;
}

export function parseProbe(out: string): HostFacts {
  const kv = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const agents: Record<string, string> = {};
  for (const [k, v] of kv) if (k.startsWith('agent_') && v) agents[k.slice(6)] = v;
  return {
    os: kv.get('os') ?? '', distro: kv.get('distro') ?? '', user: kv.get('user') ?? '', hostname: kv.get('hostname') ?? '', home: kv.get('home') ?? '',
    node: kv.get('node') ?? '', nodeVersion: kv.get('node_version') ?? '', npmVersion: kv.get('npm_version') ?? '',
    git: kv.get('git_version') ?? '', tmux: kv.get('tmux_version') ?? '', hasTar: !!kv.get('tar'),
    systemd: kv.get('systemd') === 'yes', pid1: kv.get('pid1') ?? '', agents,
  };
}

/** What stops orch from running there, each with what to do; empty when the host is fit. */
export function hostProblems(f: HostFacts): string[] {
  const out: string[] = [];
  if (!/^Linux|^Darwin/.test(f.os)) out.push(`unsupported OS "${f.os || 'unknown'}": orch nodes run on Linux or macOS`);
  const major = Number(/^v(\d+)\./.exec(f.nodeVersion)?.[1] ?? 0);
  if (!f.node) out.push('Node.js is not on the PATH of a non-interactive SSH session: install Node >= 20 (e.g. the nodejs package or NodeSource)');
  else if (major < 20) out.push(`Node ${f.nodeVersion || '(unknown version)'} at ${f.node} is too old: orch needs Node >= 20`);
  if (!f.git) out.push('git is missing: install it (apt-get install git)');
  if (!f.tmux) out.push('tmux is missing: install it (apt-get install tmux)');
  if (!f.hasTar) out.push('tar is missing: install it');
  return out;
}

/** One line per fact, for the deploy's progress output. */
export function describeHost(f: HostFacts): string[] {
  const agents = Object.keys(f.agents);
  return [
    `os:      ${f.distro ? `${f.distro}, ` : ''}${f.os}`,
    `node:    ${f.nodeVersion || 'missing'}${f.node ? ` (${f.node})` : ''}${f.npmVersion ? `, npm ${f.npmVersion}` : ''}`,
    `git:     ${f.git || 'missing'}`,
    `tmux:    ${f.tmux || 'missing'}`,
    `systemd: ${f.systemd ? 'yes' : `no (PID 1 is ${f.pid1 || 'unknown'})`}`,
    `agents:  ${agents.length ? agents.map((a) => `${a} (${f.agents[a]})`).join(', ') : 'none of claude, codex, opencode, gemini on the PATH'}`,
  ];
}
