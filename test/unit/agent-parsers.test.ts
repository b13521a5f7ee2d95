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
    // The fake sent 5744+5766 uncached input, 22974+23062 cache reads, 47+51 output.
    expect(run).toMatchObject({ inputTokens: 11510, cacheReadTokens: 46036, cacheWriteTokens: 0, outputTokens: 98, costUsd: 0.0498108 });
    expect(run.models).toEqual({ 'claude-sonnet-5': { inputTokens: 11510, cacheReadTokens: 46036, cacheWriteTokens: 0, outputTokens: 98, costUsd: 0.0498108 } });
    expect(run.sessionId).toBe('a56b9211-ddee-4e4a-acda-1e983eabd4fb');
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
    // The fake sent input 1017+2017 (of which cached 600+1200) and output 41+42.
    expect(run).toMatchObject({ inputTokens: 3034 - 1800, cacheReadTokens: 1800, cacheWriteTokens: 0, outputTokens: 83 });
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
    // tokens.input excludes cache reads: (1017-600) + (2017-1200).
    expect(run).toMatchObject({ inputTokens: 417 + 817, cacheReadTokens: 1800, cacheWriteTokens: 0, outputTokens: 83 });
    expect(run.costUsd).toBeCloseTo(0.000799 + 0.001501, 9);
  });
  it('rate limit: APIError 429 with the retry-after it showed', () => {
    const { run, cls } = outcome(opencodeAdapter, recorded('opencode', 'rate_limit'), 1);
    expect(cls).toBe('RateLimit');
    expect(run.retryAfterSeconds).toBe(1);
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
    expect(lines('codex', codexAdapter).at(-1)).toEqual({ kind: 'usage', text: 'tokens in 3034 (cached 1800) out 83' });
    expect(lines('opencode', opencodeAdapter)).toContainEqual({ kind: 'tool', text: 'write completed src/hello.txt' });
    expect(codexAdapter.liveEvent('not json')).toBeUndefined();
  });
  it('a run cut off mid-line (killed) is skipped line-wise and reported as unfinished', () => {
    const cut = recorded('codex', 'success').slice(0, -40);
    const run = codexAdapter.parseOutput(cut);
    expect(run).toMatchObject({ isError: true, errorText: 'Codex ended before its turn completed', sessionId: '01a22af1-bce6-7fc1-8d51-e0a8def6c21d' });
    expect(classifyFailure({ exitCode: 0, timedOut: false, structured: { errorClass: run.errorClass, message: run.errorText }, outputTail: '', stderrTail: '' }).errorClass).toBe('InvalidResponse');
  });
});
