// Slash commands in issue comments, parsed purely: one per line starting with `/`,
// never inside fenced code. Who may run them is checked by the caller (write access).

export type SlashCommand =
  | { name: 'retry' } | { name: 'close' } | { name: 'unblock' } | { name: 'review' }
  | { name: 'reroute'; agent: string }
  | { name: 'block'; reason: string };

export interface ParsedCommands { commands: SlashCommand[]; unknown: string[] }

export function parseCommands(body: string): ParsedCommands {
  const out: ParsedCommands = { commands: [], unknown: [] };
  let fence: string | undefined;
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    const f = /^(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (!fence) fence = f[1][0];
      else if (f[1][0] === fence) fence = undefined;
      continue;
    }
    if (fence || !line.startsWith('/')) continue;
    const m = /^\/([a-z-]+)(?:\s+(.*))?$/i.exec(line);
    if (!m) continue;
    const arg = (m[2] ?? '').trim();
    switch (m[1].toLowerCase()) {
      case 'retry': out.commands.push({ name: 'retry' }); break;
      case 'close': out.commands.push({ name: 'close' }); break;
      case 'unblock': out.commands.push({ name: 'unblock' }); break;
      case 'review': out.commands.push({ name: 'review' }); break;
      case 'reroute': out.commands.push({ name: 'reroute', agent: arg.split(/\s+/)[0] ?? '' }); break;
      case 'block': out.commands.push({ name: 'block', reason: arg }); break;
      default: out.unknown.push(`/${m[1]}`);
    }
  }
  return out;
}

/** Permissions that may command orch (GitHub's legacy levels and role names). */
export function mayCommand(permission: string | undefined): boolean {
  return permission === 'admin' || permission === 'write' || permission === 'maintain';
}
