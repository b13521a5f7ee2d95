// The adapters' parsers fed with real output recorded from each CLI (test/fixtures/agent-output,
// captured against the fake model servers): classes, tokens in orch's one convention, answers.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { claudeAdapter } from '../../agent-node/agents/claude.js';
import { codexAdapter, codexErrorClass } from '../../agent-node/agents/codex.js';
import { opencodeAdapter } from '../../agent-node/agents/opencode.js';
import type { AgentAdapter } from '../../agent-node/agents/types.js';
import { parseAgentAnswer } from '../../agent-node/answer.js';
import { classifyFailure } from '../../agent-node/errors.js';

const recorded = (agent: string, name: string) => readFileSync(new URL(`../fixtures/agent-output/${agent}/${name}.jsonl`, import.meta.url), 'utf8');
/** What the fake model server sent during the recorded run, summed in orch's convention. */
function sent(agent: string, name: string) {
  const per: Array<Record<string, number>> = JSON.parse(readFileSync(new URL(`../fixtures/agent-output/${agent}/${name}.sent.json`, import.meta.url), 'utf8'));
  const sum = (k: string) => per.reduce((s, u) => s + u[k], 0);
  return { requests: per.length, inputTokens: sum('input_tokens'), cacheReadTokens: sum('cache_read_tokens'), cacheWriteTokens: sum('cache_write_tokens'), outputTokens: sum('output_tokens') };
}
const tokens = (s: ReturnType<typeof sent>) => ({ inputTokens: s.inputTokens, cacheReadTokens: s.cacheReadTokens, cacheWriteTokens: s.cacheWriteTokens, outputTokens: s.outputTokens });

/** What orch would decide for a recorded run that exited with `exitCode`. */
function outcome(adapter: AgentAdapter, stdout: string, exitCode: number) {
  const run = adapter.parseOutput(stdout);
  const failed = exitCode !== 0 || run.isError;
  const cls = failed ? classifyFailure({ exitCode, timedOut: false, structured: run.isError ? { errorClass: run.errorClass, message: run.errorText } : undefined, outputTail: stdout.slice(-3072), stderrTail: '' }).errorClass : '';
  return { run, cls };
}

describe('Claude Code output', () => {
  it('success: the result text is the answer, modelUsage gives the tokens, the cost is its own', () => {
    const { run, cls } = outcome(claudeAdapter, recorded('claude', 'success'), 0);
    expect(cls).toBe('');
    expect(parseAgentAnswer(run.text)).toMatchObject({ parsed: true, answer: { status: 'done', filesChanged: ['src/hello.txt'] } });
    const s = sent('claude', 'success');
    expect(s.requests).toBe(2);
    expect(run).toMatchObject(tokens(s));
    expect(run.costUsd).toBeGreaterThan(0);
    expect(Object.values(run.models ?? {})).toEqual([{ ...tokens(s), costUsd: run.costUsd }]);
    expect(run.sessionId).toMatch(/^[0-9a-f-]{36}$/);
  });
  it.each([
    ['rate_limit', 'RateLimit'],
    ['auth', 'Auth'],
    ['context_overflow', 'ContextOverflow'],
  ])('%s -> %s from the result event', (name, cls) => {
    expect(outcome(claudeAdapter, recorded('claude', name), 1).cls).toBe(cls);
  });
});

describe('Codex output', () => {
  it('success: the last agent_message is the answer; input excludes the cached tokens', () => {
    const { run, cls } = outcome(codexAdapter, recorded('codex', 'success'), 0);
    expect(cls).toBe('');
    expect(parseAgentAnswer(run.text).answer).toMatchObject({ status: 'done', learnings: ['the fake always writes one file'] });
    // Codex reports input including the cached tokens: orch subtracts them.
    expect(sent('codex', 'success').requests).toBe(2);
    expect(run).toMatchObject(tokens(sent('codex', 'success')));
    expect(run.costUsd).toBeUndefined();
    expect(run.isError).toBe(false);
  });
  it('a first item.completed of type error (unknown model metadata) is no failure', () => {
    expect(recorded('codex', 'success')).toContain('"type":"error","message":"Model metadata');
    expect(codexAdapter.parseOutput(recorded('codex', 'success')).isError).toBe(false);
  });
  it.each([
    ['rate_limit', 'RateLimit'],
    ['auth', 'Auth'],
    ['context_overflow', 'ContextOverflow'],
  ])('%s -> %s from turn.failed', (name, cls) => {
    expect(outcome(codexAdapter, recorded('codex', name), 1).cls).toBe(cls);
  });
  it('reads status codes from its error text', () => {
    expect(codexErrorClass('unexpected status 404 Not Found: model gpt-9 does not exist')).toBe('ModelUnavailable');
    expect(codexErrorClass('stream disconnected before completion: error sending request')).toBe('NetworkError');
    expect(codexErrorClass('something else')).toBeUndefined();
  });
});

describe('OpenCode output', () => {
  it('success: every step_finish is summed, its own cost kept', () => {
    const { run, cls } = outcome(opencodeAdapter, recorded('opencode', 'success'), 0);
    expect(cls).toBe('');
    expect(parseAgentAnswer(run.text).answer).toMatchObject({ status: 'done', filesChanged: ['src/hello.txt'] });
    // tokens.input excludes cache reads; every step_finish counts.
    const s = sent('opencode', 'success');
    expect(run).toMatchObject(tokens(s));
    // Its own cost from the model prices in its config (input 1, output 2, cache read 0.5 USD per million).
    expect(run.costUsd).toBeCloseTo((s.inputTokens * 1 + s.outputTokens * 2 + s.cacheReadTokens * 0.5) / 1e6, 9);
  });
  it('rate limit: APIError 429 with the retry-after it showed', () => {
    const { run, cls } = outcome(opencodeAdapter, recorded('opencode', 'rate_limit'), 1);
    expect(cls).toBe('RateLimit');
    expect(run.retryAfterSeconds).toBeGreaterThan(0); // retry-after-ms or retry-after, as the fake sent it
    expect(run.retryAfterSeconds).toBeLessThanOrEqual(1);
  });
  it.each([
    ['auth', 'Auth'],
    ['context_overflow', 'ContextOverflow'],
  ])('%s -> %s from the error event', (name, cls) => {
    expect(outcome(opencodeAdapter, recorded('opencode', name), 1).cls).toBe(cls);
  });
});

describe('live events', () => {
  it('turn each CLI line into a short status', () => {
    const lines = (agent: string, a: AgentAdapter) => recorded(agent, 'success').split('\n').map((l) => a.liveEvent(l)).filter(Boolean);
    expect(lines('claude', claudeAdapter).map((e) => e!.kind)).toEqual(expect.arrayContaining(['start', 'tool', 'result']));
    expect(lines('codex', codexAdapter)).toContainEqual({ kind: 'tool', text: expect.stringContaining("printf '%s'") });
    const c = sent('codex', 'success');
    expect(lines('codex', codexAdapter).at(-1)).toEqual({ kind: 'usage', text: `tokens in ${c.inputTokens + c.cacheReadTokens} (cached ${c.cacheReadTokens}) out ${c.outputTokens}` });
    expect(lines('opencode', opencodeAdapter)).toContainEqual({ kind: 'tool', text: 'write completed src/hello.txt' });
    expect(codexAdapter.liveEvent('not json')).toBeUndefined();
  });
  it('a run cut off mid-line (killed) is skipped line-wise and reported as unfinished', () => {
    const cut = recorded('codex', 'success').slice(0, -40);
    const run = codexAdapter.parseOutput(cut);
    expect(run).toMatchObject({ isError: true, errorText: 'Codex ended before its turn completed', sessionId: codexAdapter.parseOutput(recorded('codex', 'success')).sessionId });
    expect(classifyFailure({ exitCode: 0, timedOut: false, structured: { errorClass: run.errorClass, message: run.errorText }, outputTail: '', stderrTail: '' }).errorClass).toBe('InvalidResponse');
  });
});
