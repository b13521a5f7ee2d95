// The agent's JSON answer (the Rust orch's contract): find it in the final text,
// check it, and turn anything else into a needs_review answer that says why, so
// a malformed answer never loses the task or the work on its branch.
import type { AgentAnswer, Delegation } from '../proto/gen/orch/v1/types.js';

const STATUSES = new Set(['done', 'in_progress', 'blocked', 'needs_review']);

export interface ParsedAnswer {
  answer: AgentAnswer;
  /** false when no valid JSON answer was found (answer is then a needs_review stand-in). */
  parsed: boolean;
  problem?: string;
}

/** Candidate JSON texts in an agent's answer, most likely first: the whole text, fenced blocks (last first), balanced objects (last first). */
export function jsonCandidates(text: string): string[] {
  const out: string[] = [];
  const t = text.trim();
  if (t.startsWith('{')) out.push(t);
  const fences = [...t.matchAll(/```(?:json)?\s*\n([\s\S]*?)```/g)].map((m) => m[1].trim()).reverse();
  out.push(...fences);
  const objs: string[] = [];
  for (let i = 0; i < t.length; i++) {
    if (t[i] !== '{') continue;
    const end = matchBrace(t, i);
    if (end > 0) {
      objs.push(t.slice(i, end + 1));
      i = end;
    }
  }
  out.push(...objs.reverse());
  return out;
}

function matchBrace(s: string, start: number): number {
  let depth = 0;
  let inStr = false;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string' || typeof x === 'number').map(String) : typeof v === 'string' && v ? [v] : []);

export function parseAgentAnswer(text: string): ParsedAnswer {
  let problem = text.trim() ? 'no JSON object with a "status" field in the answer' : 'the agent printed no answer';
  for (const c of jsonCandidates(text)) {
    let v: any;
    try {
      v = JSON.parse(c);
    } catch {
      continue;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v) || !('status' in v)) continue;
    const status = String(v.status).toLowerCase().replace(/[- ]/g, '_');
    if (!STATUSES.has(status)) {
      problem = `answer status ${JSON.stringify(v.status)} is not one of done, in_progress, blocked, needs_review`;
      continue;
    }
    const delegations: Delegation[] = Array.isArray(v.delegations)
      ? v.delegations.filter((d: any) => d && typeof d.title === 'string').map((d: any) => ({
        title: d.title, body: typeof d.body === 'string' ? d.body : '', labels: strs(d.labels),
      }))
      : [];
    return {
      parsed: true,
      answer: {
        status,
        summary: typeof v.summary === 'string' ? v.summary : '',
        accomplished: strs(v.accomplished),
        remaining: strs(v.remaining),
        filesChanged: strs(v.files_changed ?? v.files),
        blockers: strs(v.blockers),
        reason: typeof v.reason === 'string' ? v.reason : '',
        delegations,
        learnings: strs(v.learnings),
      },
    };
  }
  const excerpt = text.trim().slice(-500);
  return {
    parsed: false,
    problem,
    answer: {
      status: 'needs_review', summary: excerpt, accomplished: [], remaining: [], filesChanged: [], blockers: [],
      reason: `orch could not read the agent's answer: ${problem}`, delegations: [], learnings: [],
    },
  };
}
