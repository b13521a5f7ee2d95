import { describe, expect, it } from 'vitest';
import { parseAgentAnswer } from '../../agent-node/answer.js';
import { classifyFailure } from '../../agent-node/errors.js';

describe('agent answer', () => {
  it('reads a bare JSON answer with the Rust orch fields', () => {
    const r = parseAgentAnswer(JSON.stringify({
      status: 'done', summary: 'added hello.txt', accomplished: ['wrote file'], remaining: [], files_changed: ['hello.txt'],
      blockers: [], delegations: [{ title: 'write docs', body: 'later', labels: ['docs'] }],
    }));
    expect(r.parsed).toBe(true);
    expect(r.answer).toMatchObject({ status: 'done', summary: 'added hello.txt', filesChanged: ['hello.txt'], accomplished: ['wrote file'] });
    expect(r.answer.delegations).toEqual([{ title: 'write docs', body: 'later', labels: ['docs'] }]);
  });

  it('finds the answer after prose and inside a fenced block, preferring the last', () => {
    const prose = 'I did the work.\n\n```json\n{"status": "in_progress", "summary": "first"}\n```\nthen\n```json\n{"status": "blocked", "summary": "second", "blockers": ["need a key"]}\n```\n';
    expect(parseAgentAnswer(prose).answer).toMatchObject({ status: 'blocked', summary: 'second', blockers: ['need a key'] });
    const inline = 'Done! {"status":"done","summary":"braces } in \\"strings\\" are fine"} bye';
    expect(parseAgentAnswer(inline).answer).toMatchObject({ status: 'done', summary: 'braces } in "strings" are fine' });
  });

  it('turns a missing or invalid answer into needs_review with the reason', () => {
    const none = parseAgentAnswer('I changed some files, all good.');
    expect(none.parsed).toBe(false);
    expect(none.answer.status).toBe('needs_review');
    expect(none.answer.reason).toMatch(/could not read the agent's answer: no JSON object with a "status" field/);
    expect(none.answer.summary).toBe('I changed some files, all good.');

    const bad = parseAgentAnswer('{"status": "finished", "summary": "x"}');
    expect(bad.parsed).toBe(false);
    expect(bad.answer.reason).toMatch(/"finished" is not one of done, in_progress, blocked, needs_review/);
    expect(parseAgentAnswer('').answer.reason).toMatch(/printed no answer/);
    expect(parseAgentAnswer('{"status": "done", "summary": ').parsed).toBe(false);
  });

  it('tolerates wrong field types without throwing', () => {
    const r = parseAgentAnswer('{"status":"Done","summary":42,"files_changed":"a.txt","blockers":null}');
    expect(r.answer).toMatchObject({ status: 'done', summary: '', filesChanged: ['a.txt'], blockers: [] });
  });
});

describe('failure classes', () => {
  const f = (o: Partial<Parameters<typeof classifyFailure>[0]>) => classifyFailure({ exitCode: 1, timedOut: false, outputTail: '', stderrTail: '', ...o });
  it('classifies by exit code and output', () => {
    expect(f({ timedOut: true, exitCode: 124 }).errorClass).toBe('Timeout');
    expect(f({ stderrTail: 'Error: Invalid API key · Please run /login' }).errorClass).toBe('Auth');
    expect(f({ outputTail: 'API Error: 429 rate_limit_error' }).errorClass).toBe('RateLimit');
    expect(f({ exitCode: 127, stderrTail: 'bash: claude: command not found' })).toEqual({ errorClass: 'MissingTool', message: "exit code 127: the agent's command was not found" });
    expect(f({ exitCode: 137 }).message).toBe('killed by signal 9');
    expect(f({ exitCode: null }).errorClass).toBe('Vanished');
    expect(f({ exitCode: 2, stderrTail: 'something odd\nlast line' })).toEqual({ errorClass: 'AgentFailed', message: 'exit code 2: last line' });
  });
});
