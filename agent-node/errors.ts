// Failure classes of an attempt. Decided in this order: what orch itself saw (timeout,
// silence), the agent's own structured events (adapters read them: HTTP status, error
// names), the exit code, and only then text patterns in the tails of the output.
// What happens next for each class is coordinator/recovery.ts's decision.

export const ERROR_CLASSES = [
  'RateLimit', 'Auth', 'ModelUnavailable', 'ContextOverflow', 'Timeout', 'MissingTool', 'PermissionDenied',
  'WaitingForInput', 'InvalidResponse', 'AgentFailed', 'NetworkError', 'Vanished', 'Unknown',
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

export interface FailureFacts {
  exitCode: number | null;
  timedOut: boolean;
  /** Seconds of silence after which orch stopped the agent (set only then). */
  silentSeconds?: number;
  /** What the adapter read from the agent's structured events. */
  structured?: { errorClass?: string; message?: string };
  outputTail: string;
  stderrTail: string;
}

export interface Failure {
  errorClass: ErrorClass;
  message: string;
}

/** The class an HTTP status from a model API means. */
export function classOfHttpStatus(status: number): ErrorClass | undefined {
  if (status === 429 || status === 529) return 'RateLimit';
  if (status === 401 || status === 403) return 'Auth';
  if (status === 404) return 'ModelUnavailable';
  if (status === 413) return 'ContextOverflow';
  if (status === 408 || status === 502 || status === 503 || status === 504) return 'NetworkError';
  if (status >= 500) return 'AgentFailed';
  return undefined;
}

const PATTERNS: Array<[ErrorClass, RegExp]> = [
  ['ContextOverflow', /context[ _-]?(length|window)|prompt is too long|maximum context length|too many tokens/i],
  ['Auth', /invalid[ _-]?api[ _-]?key|authentication[_ ]error|unauthorized|\b401\b|please run \/login|not logged in|OAuth token/i],
  ['RateLimit', /rate[ _-]?limit|\b429\b|overloaded|quota exceeded|usage limit|insufficient[_ ]quota/i],
  ['ModelUnavailable', /model[_ ]not[_ ]found|unknown model|model .* does not exist|\b404\b.*model/i],
  ['MissingTool', /command not found|No such file or directory.*(bin|exec)|ENOENT|cannot execute/i],
  ['PermissionDenied', /permission denied|EACCES|requires approval|not allowed to use/i],
  ['WaitingForInput', /waiting for (your )?input|press enter|\[y\/n\]/i],
  ['NetworkError', /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|network error|socket hang up|fetch failed|stream disconnected/i],
];

function known(c: string | undefined): c is ErrorClass {
  return c !== undefined && (ERROR_CLASSES as readonly string[]).includes(c);
}

export function classifyFailure(f: FailureFacts): Failure {
  if (f.timedOut) return { errorClass: 'Timeout', message: 'the attempt ran past its time limit and was stopped' };
  const text = `${f.stderrTail}\n${f.outputTail}`;
  if (f.silentSeconds !== undefined) {
    // A silent agent that was asking something waits for input; any other silence is a timeout.
    const m = PATTERNS.find(([c]) => c === 'WaitingForInput')![1].exec(text);
    if (m) return { errorClass: 'WaitingForInput', message: `silent for ${f.silentSeconds} s after asking: ${lineAround(text, m.index)}` };
    return { errorClass: 'Timeout', message: `the agent printed nothing for ${f.silentSeconds} s and was stopped` };
  }
  const s = f.structured;
  if (s && known(s.errorClass)) return { errorClass: s.errorClass, message: `${describe(f.exitCode)}: ${(s.message ?? s.errorClass).slice(0, 300)}` };
  if (f.exitCode === 124) return { errorClass: 'Timeout', message: 'the attempt ran past its time limit and was stopped' };
  if (f.exitCode === 127) return { errorClass: 'MissingTool', message: `${describe(f.exitCode)}: the agent's command was not found` };
  if (f.exitCode === 126) return { errorClass: 'PermissionDenied', message: `${describe(f.exitCode)}: the agent's command could not be executed` };
  for (const [cls, re] of PATTERNS) {
    const m = re.exec(text);
    if (m) return { errorClass: cls, message: `${describe(f.exitCode)}: ${lineAround(text, m.index)}` };
  }
  if (f.exitCode === null) return { errorClass: 'Vanished', message: 'the session ended without an exit code (killed from outside, or the machine restarted)' };
  const last = (s?.message ?? text).trim().split('\n').filter(Boolean).pop() ?? '';
  if (f.exitCode === 0) return { errorClass: 'InvalidResponse', message: `exit code 0 but the agent reported an error${last ? `: ${last.slice(0, 300)}` : ''}` };
  return { errorClass: 'AgentFailed', message: `${describe(f.exitCode)}${last ? `: ${last.slice(0, 300)}` : ''}` };
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
