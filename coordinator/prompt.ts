// Prompts sent to agents: the system prompt asks for orch's JSON answer (the Rust
// orch's format); the task prompt carries the task and what earlier attempts learned.

export interface AttemptMemory {
  attempt: number;
  agent: string;
  model: string;
  outcome: string;
  summary: string;
  error?: string;
  learnings?: string[];
  filesChanged?: string[];
  /** What the attempt did (its answer's accomplished items). */
  approach?: string;
  /** The branch's diff after the attempt (bounded); kept for the latest attempt only. */
  diff?: string;
}

/** Diff text kept for the next prompt: at most this many characters, cut at a line. */
export const MAX_DIFF_CHARS = 12_000;

export function boundDiff(diff: string, max = MAX_DIFF_CHARS): string {
  if (diff.length <= max) return diff;
  const cut = diff.lastIndexOf('\n', max);
  return `${diff.slice(0, cut > 0 ? cut : max)}\n… (diff cut at ${max} characters of ${diff.length})`;
}

export interface PromptInput {
  taskId: number;
  title: string;
  body: string;
  labels: string[];
  project: string;
  branch: string;
  memory: AttemptMemory[];
}

export function systemPrompt(input: PromptInput): string {
  return [
    `You are an autonomous coding agent working for orch on task #${input.taskId} of ${input.project}.`,
    `You work in a git worktree on branch \`${input.branch}\`. Make the change the task asks for, keep it focused,`,
    'and commit your work with a clear message (orch commits anything you leave uncommitted and pushes the branch;',
    'do not push, do not open pull requests).',
    '',
    'When you finish, your final message must be ONLY one JSON object, with no other text:',
    '{"status": "done|in_progress|blocked|needs_review", "summary": "what you did, one paragraph",',
    ' "accomplished": ["..."], "remaining": ["..."], "files_changed": ["path", "..."],',
    ' "blockers": ["..."], "reason": "why blocked or needs_review, else empty",',
    ' "learnings": ["what the next attempt should know"],',
    ' "delegations": [{"title": "...", "body": "...", "labels": ["..."]}]}',
    'Use "done" only when the task is complete; "in_progress" when more work remains and another attempt should continue;',
    '"blocked" when something outside the repository stops you; "needs_review" when a person must decide.',
  ].join('\n');
}

export function taskPrompt(input: PromptInput): string {
  const parts = [`# ${input.title}`, ''];
  if (input.body.trim()) parts.push(input.body.trim(), '');
  if (input.labels.length) parts.push(`Labels: ${input.labels.join(', ')}`, '');
  if (input.memory.length) {
    parts.push('## Earlier attempts', '');
    for (const m of input.memory) {
      parts.push(`- Attempt ${m.attempt} (${m.agent}${m.model ? '/' + m.model : ''}): ${m.outcome}. ${m.summary}`.trim());
      if (m.approach) parts.push(`  Approach: ${m.approach}`);
      if (m.error) parts.push(`  Error: ${m.error}`);
      for (const l of m.learnings ?? []) parts.push(`  Learned: ${l}`);
      if (m.filesChanged?.length) parts.push(`  Files changed: ${m.filesChanged.join(', ')}`);
    }
    const last = input.memory.at(-1);
    if (last?.diff) parts.push('', `## What the branch changed so far (diff after attempt ${last.attempt})`, '', '```diff', boundDiff(last.diff).replace(/```/g, '`\u200b``'), '```');
    parts.push('', 'Continue from where the previous attempt left off; the branch already holds its commits.');
  }
  return parts.join('\n') + '\n';
}

/** Branch name of a task: orch/<id>-<slug>, slug at most 40 characters. */
/** Lowercase letters and digits joined by '-', at most 40 characters ('' when nothing is left). */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
}

export function branchName(taskId: number, title: string): string {
  const s = slug(title);
  return `orch/${taskId}${s ? '-' + s : ''}`;
}
