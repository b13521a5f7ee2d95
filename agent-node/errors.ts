// Failure classes of an attempt, from its exit code and the tails of its output.
// The class decides retries (coordinator/task-actor.ts `retryable`): Auth,
// MissingTool, PermissionDenied and WaitingForInput need a human, others retry.

export interface FailureFacts {
  exitCode: number | null;
  timedOut: boolean;
  outputTail: string;
  stderrTail: string;
}

export interface Failure {
  errorClass: string;
  message: string;
}

const PATTERNS: Array<[string, RegExp]> = [
  ['Auth', /invalid[ _-]?api[ _-]?key|authentication[_ ]error|unauthorized|\b401\b|please run \/login|not logged in|OAuth token/i],
  ['RateLimit', /rate[ _-]?limit|\b429\b|overloaded|quota exceeded|usage limit/i],
  ['MissingTool', /command not found|No such file or directory.*(bin|exec)|ENOENT|cannot execute/i],
  ['PermissionDenied', /permission denied|EACCES|requires approval|not allowed to use/i],
  ['WaitingForInput', /waiting for (your )?input|press enter|\[y\/n\]/i],
  ['Network', /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|network error|socket hang up|fetch failed/i],
];

export function classifyFailure(f: FailureFacts): Failure {
  if (f.timedOut) return { errorClass: 'Timeout', message: 'the attempt ran past its time limit and was stopped' };
  const text = `${f.stderrTail}\n${f.outputTail}`;
  for (const [cls, re] of PATTERNS) {
    const m = re.exec(text);
    if (m) return { errorClass: cls, message: `${describe(f.exitCode)}: ${lineAround(text, m.index)}` };
  }
  if (f.exitCode === 127) return { errorClass: 'MissingTool', message: `${describe(f.exitCode)}: the agent's command was not found` };
  if (f.exitCode === null) return { errorClass: 'Vanished', message: 'the session ended without an exit code (killed from outside, or the machine restarted)' };
  const last = text.trim().split('\n').filter(Boolean).pop() ?? '';
  return { errorClass: 'AgentError', message: `${describe(f.exitCode)}${last ? `: ${last.slice(0, 300)}` : ''}` };
}

function describe(code: number | null): string {
  if (code === null) return 'no exit code';
  if (code > 128 && code < 160) return `killed by signal ${code - 128}`;
  return `exit code ${code}`;
}

function lineAround(text: string, index: number): string {
  const start = text.lastIndexOf('\n', index) + 1;
  const end = text.indexOf('\n', index);
  return text.slice(start, end < 0 ? undefined : end).trim().slice(0, 300);
}
