// The LLM router's words, as pure functions: the prompt it is given (the task's title,
// body and labels, and the agents the fleet has) and the parsing of its answer, one JSON
// object {executor, complexity, reason}. A malformed answer is a verdict with an error.
import { COMPLEXITIES, type Complexity, type LlmVerdict } from './router.js';
import { jsonCandidates } from '../agent-node/answer.js';

export interface RouterPromptInput {
  taskId: number;
  title: string;
  body: string;
  labels: string[];
  /** Agents the fleet has, with the models model_map names for each tier. */
  agents: Array<{ name: string; models: Partial<Record<Complexity, string>> }>;
}

/** Bodies past this are cut: the router needs the gist, not the whole issue. */
const MAX_BODY = 6_000;

export const ROUTER_SYSTEM = [
  'You are the router of orch, a system that hands coding tasks to AI coding agents.',
  'Pick the agent (executor) that should do the task and rate its complexity:',
  'simple (a small, local change), medium (a feature or fix across a few files), complex (design work, many files, subtle bugs).',
  'Answer with exactly one JSON object and nothing else:',
  '{"executor": "<one of the agents listed>", "complexity": "simple|medium|complex", "reason": "<one sentence>"}',
  'Do not use tools. Do not write files.',
].join('\n');

export function routerPrompt(i: RouterPromptInput): string {
  const body = i.body.length > MAX_BODY ? `${i.body.slice(0, MAX_BODY)}\n[… cut]` : i.body;
  const agents = i.agents.map((a) => {
    const models = COMPLEXITIES.filter((c) => a.models[c]).map((c) => `${c}: ${a.models[c]}`).join(', ');
    return `- ${a.name}${models ? ` (${models})` : ''}`;
  });
  return [
    `Task #${i.taskId}: ${i.title}`,
    `Labels: ${i.labels.length ? i.labels.join(', ') : '(none)'}`,
    '',
    'Description:',
    body.trim() || '(no description)',
    '',
    'Agents available:',
    ...agents,
    '',
    'Answer with the JSON object only.',
  ].join('\n');
}

/** Parse the router's answer; anything but a valid decision is `{error}` naming what is wrong. */
export function parseRouterAnswer(text: string): LlmVerdict {
  if (!text.trim()) return { error: 'the router gave an empty answer' };
  let obj: Record<string, unknown> | undefined;
  for (const c of jsonCandidates(text)) {
    try {
      const v = JSON.parse(c) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) { obj = v as Record<string, unknown>; break; }
    } catch { /* next candidate */ }
  }
  const excerpt = text.trim().slice(0, 120).replace(/\s+/g, ' ');
  if (!obj) return { error: `the router's answer is not a JSON object: "${excerpt}"` };
  const executor = typeof obj.executor === 'string' ? obj.executor.trim() : '';
  if (!executor) return { error: `the router's answer has no "executor": "${excerpt}"` };
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(executor)) return { error: `the router's executor "${executor.slice(0, 64)}" is not an agent name` };
  const complexity = typeof obj.complexity === 'string' ? obj.complexity.trim().toLowerCase() : '';
  if (!COMPLEXITIES.includes(complexity as Complexity)) {
    return { error: `the router's complexity "${String(obj.complexity ?? '').slice(0, 40)}" is not simple, medium or complex` };
  }
  const reason = typeof obj.reason === 'string' ? obj.reason.trim().slice(0, 500) : '';
  return { executor, complexity: complexity as Complexity, reason };
}
