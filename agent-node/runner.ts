// runner.sh: the script tmux runs for one attempt. It reads its environment from
// a FIFO (secrets never touch disk or argv), runs the agent under `timeout` in the
// worktree with stdout -> output.log and stderr -> stderr.txt, and on any exit
// writes exit.txt atomically so a watcher (or a restarted node) learns the end.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Invocation } from './agents/types.js';

export interface RunnerOptions {
  attemptDir: string;
  worktree: string;
  invocation: Invocation;
  timeoutSeconds: number;
  traceparent?: string;
  /** The node's lease file (epoch seconds): the agent is stopped once the time passes it. */
  leaseFile?: string;
}

/** What every agent may see of the node's environment (the rest comes from its own `env`). */
export const BASE_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TERM', 'TMPDIR', 'TZ'];

/** Exit code of a run stopped because its node's lease ran out. */
export const LEASE_EXPIRED_EXIT = 86;

/** Single-quote for bash. */
export function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function writeRunnerScript(o: RunnerOptions): Promise<{ script: string; envFifo: string }> {
  const script = join(o.attemptDir, 'runner.sh');
  const envFifo = join(o.attemptDir, 'env.fifo');
  rmSync(envFifo, { force: true });
  const d = sq(o.attemptDir);
  const cmd = o.invocation.argv.map(sq).join(' ');
  const files = o.invocation.stdinFiles;
  // Several prompt files reach stdin one after the other, a blank line between them.
  const feed = files?.length ? `{ ${files.map((f) => `cat ${sq(f)}`).join("; printf '\\n\\n'; ")}; } | ` : '';
  const stdin = feed ? '' : o.invocation.stdinFile ? ` < ${sq(o.invocation.stdinFile)}` : ' < /dev/null';
  const lines = [
    '#!/bin/bash',
    '# Written by orch for one attempt. It holds no secrets: they arrive through env.fifo.',
    `d=${d}`,
    `trap 'c=$?; printf "%s\\n" "$c" > "$d/exit.txt.tmp" && mv -f "$d/exit.txt.tmp" "$d/exit.txt"' EXIT`,
    // The FIFO is made here (no extra process for orch to spawn); orch writes into it once it exists.
    `mkfifo -m 600 ${sq(envFifo)} || exit 126`,
    `. ${sq(envFifo)}`,
    // Credentials of orch itself are not the agent's business.
    'unset ORCH_TOKEN ORCH_DATABASE_URL',
    ...(o.traceparent ? [`export TRACEPARENT=${sq(o.traceparent)}`] : []),
    `cd ${sq(o.worktree)} || exit 125`,
    `echo "orch: running ${o.invocation.argv[0].replace(/["$`\\]/g, '')} in $PWD"`,
    // The agent sees a minimal environment and its own variables, nothing else of the node's
    // (tmux hands every session the environment its server started with).
    `keep=(${[...new Set([...BASE_ENV, ...Object.keys(o.invocation.env), 'TRACEPARENT'])].filter((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)).join(' ')})`,
    'e=(); for n in "${keep[@]}"; do [ -n "${!n+x}" ] && e+=("$n=${!n}"); done',
    // timeout leads its own process group: the watchdog stops the agent and all it started.
    `${feed}env -i "\${e[@]}" timeout --kill-after=10 ${Math.max(1, Math.floor(o.timeoutSeconds))} ${cmd}${stdin} > "$d/output.log" 2> "$d/stderr.txt" &`,
    'p=$!',
    // The agent runs in timeout's own process group, which tmux's hangup does not reach:
    // a killed session (or a killed runner) takes the whole group down with it.
    'echo "$p" > "$d/agent.pid"',
    `trap 'kill -TERM -- -$p 2>/dev/null' HUP TERM INT`,
    ...(o.leaseFile ? [
      // Self-fencing: when the node stops renewing its lease (it died or lost the coordinator),
      // the agent stops before the coordinator hands the attempt to another node.
      // (printf's %(%s)T is bash's own clock: no process per check; date where bash is older.)
      `( while sleep 1; do read -r lease_until < ${sq(o.leaseFile)} 2>/dev/null || continue; printf -v now '%(%s)T' -1 2>/dev/null || now=$(date +%s); [ "$now" -le "\${lease_until%.*}" ] && continue;`,
      `  echo "orch: the node's lease ran out; stopping the agent" >> "$d/stderr.txt"; : > "$d/lease-expired";`,
      `  kill -TERM -- -$p 2>/dev/null; sleep 2; kill -KILL -- -$p 2>/dev/null; exit 0; done ) &`,
      'w=$!',
    ] : []),
    // The pane shows the agent's output as it comes (what `orch task attach` sees of a headless
    // agent); its stdin stays the prompt. tail stops with the agent (--pid) or when killed.
    'tail -n +1 -F --pid=$p "$d/output.log" 2>/dev/null & t=$!',
    'wait $p; c=$?',
    'kill $t 2>/dev/null',
    ...(o.leaseFile ? ['kill $w 2>/dev/null', `[ -e "$d/lease-expired" ] && exit ${LEASE_EXPIRED_EXIT}`] : []),
    'exit $c',
  ];
  writeFileSync(script, lines.join('\n') + '\n', { mode: 0o755 });
  return { script, envFifo };
}

/** Stop the agent of an attempt: SIGTERM to the process group its `timeout` leads (false when none is known or alive). */
export function stopAgent(attemptDir: string, signal: NodeJS.Signals = 'SIGTERM'): boolean {
  const f = join(attemptDir, 'agent.pid');
  if (!existsSync(f)) return false;
  const pid = Number.parseInt(readFileSync(f, 'utf8').trim(), 10);
  if (!(pid > 1)) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The exit code the runner recorded, or undefined while it runs. */
export function readExit(attemptDir: string): number | undefined {
  const f = join(attemptDir, 'exit.txt');
  if (!existsSync(f)) return undefined;
  const n = Number.parseInt(readFileSync(f, 'utf8').trim(), 10);
  return Number.isFinite(n) ? n : undefined;
}
