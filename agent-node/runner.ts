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
}

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
    // In the background so its pid is known: `timeout` leads its own process group, and orch
    // stops a silent or killed agent by signalling that group (a tmux kill alone may miss it).
    `${feed}timeout --kill-after=10 ${Math.max(1, Math.floor(o.timeoutSeconds))} ${cmd}${stdin} > "$d/output.log" 2> "$d/stderr.txt" &`,
    'echo $! > "$d/agent.pid"',
    'wait $!',
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
