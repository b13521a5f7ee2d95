// The structured result comment orch posts on an issue when an attempt ends: summary,
// what was done and what remains, files, tokens and cost; redacted like every output.
import { redact } from '../../runtime/redact.js';

export interface AttemptView {
  number: number; agent: string; model: string; state: string; summary: string; errorClass: string; errorMessage: string;
  inputTokens: number; outputTokens: number; costUsd: number; durationMs: number;
  answer: { status?: string; accomplished?: string[]; remaining?: string[]; filesChanged?: string[]; blockers?: string[] } | null;
}

export const RESULT_MARKER = '<!-- orch:result -->';

export function resultComment(taskId: number, status: string, a: AttemptView): string {
  const lines = [RESULT_MARKER, `### orch: attempt ${a.number} of task ${taskId} → \`${status}\``, ''];
  if (a.summary) lines.push(a.summary, '');
  if (a.errorClass) lines.push(`**Error** (${a.errorClass}): ${a.errorMessage}`, '');
  const list = (title: string, xs?: string[]) => { if (xs?.length) lines.push(`**${title}**`, ...xs.map((x) => `- ${x}`), ''); };
  list('Accomplished', a.answer?.accomplished);
  list('Remaining', a.answer?.remaining);
  list('Blockers', a.answer?.blockers);
  list('Files changed', a.answer?.filesChanged?.map((f) => `\`${f}\``));
  lines.push(`<sub>${a.agent}${a.model ? '/' + a.model : ''} · ${a.inputTokens} in / ${a.outputTokens} out tokens · $${a.costUsd.toFixed(4)} · ${Math.round(a.durationMs / 1000)} s</sub>`);
  return redact(lines.join('\n'));
}
