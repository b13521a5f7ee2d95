import { describe, expect, it } from 'vitest';
import { chatPrompt, describeAction, parseChatAnswer, resolveModelSpec, type FleetState } from '../../coordinator/chat/prompt.js';
import { defaultConfig, mergeConfig } from '../../runtime/config/index.js';

describe('the chat answer', () => {
  it.each([
    ['bare JSON', '{"reply":"All quiet.","actions":[]}', { reply: 'All quiet.', actions: [], malformed: false }],
    ['in a json fence with prose', 'Sure:\n```json\n{"reply":"Retrying.","actions":[{"op":"retry","task_id":4,"why":"asked"}]}\n```', { reply: 'Retrying.', actions: [{ op: 'retry', taskId: 4, why: 'asked' }], malformed: false }],
    ['amid prose', 'Here you go {"reply":"ok"} thanks', { reply: 'ok', actions: [], malformed: false }],
    ['plain text', 'Nothing runs.', { reply: 'Nothing runs.', actions: [], malformed: true }],
    ['JSON without reply', '{"answer":"x"}', { reply: '{"answer":"x"}', actions: [], malformed: true }],
    ['create and close', '{"reply":"r","actions":[{"op":"create","title":"Fix CI","body":"b","project":"p"},{"op":"close","task_id":"7","note":"dup"}]}',
      { reply: 'r', actions: [{ op: 'create', title: 'Fix CI', body: 'b', project: 'p', agent: '', why: '' }, { op: 'close', taskId: 7, note: 'dup', why: '' }], malformed: false }],
  ])('%s', (_name, text, want) => {
    expect(parseChatAnswer(text)).toMatchObject(want);
  });

  it('drops unusable actions with a reason and keeps the rest', () => {
    const r = parseChatAnswer('{"reply":"r","actions":[{"op":"delete","task_id":1},{"op":"retry"},{"op":"create"},{"op":"unblock","id":3}]}');
    expect(r.actions).toEqual([{ op: 'unblock', taskId: 3, why: '' }]);
    expect(r.problems).toEqual(['action 1: unknown op "delete" (known: create, retry, unblock, close)', 'action 2: retry without a task_id', 'action 3: create without a title']);
  });

  it('describes actions in one line', () => {
    expect(describeAction({ op: 'retry', taskId: 2 })).toBe('retry task #2');
    expect(describeAction({ op: 'create', title: 'Fix', project: 'p', agent: 'codex', outcome: 'done: created #9' })).toBe('create task "Fix" in p with codex [done: created #9]');
  });
});

describe('/model [agent:]model', () => {
  const config = mergeConfig(defaultConfig(), { agents: { claude: {}, opencode: { models: ['minimax-m2.5-free'] } }, model_map: { simple: { claude: 'haiku', codex: 'gpt-5.1-codex-mini' } } });
  it.each([
    ['minimax:sonnet', { agent: 'minimax', model: 'sonnet' }],
    ['opencode', { agent: 'opencode', model: '' }],
    ['minimax-m2.5-free', { agent: 'opencode', model: 'minimax-m2.5-free' }],
    ['gpt-5.1-codex-mini', { agent: 'codex', model: 'gpt-5.1-codex-mini' }],
    ['sonnet', { agent: 'claude', model: 'sonnet' }], // unknown to the config: the current agent
  ])('%s', (spec, want) => {
    expect(resolveModelSpec(spec, config, ['claude'], 'claude')).toEqual(want);
  });
});

describe('the chat prompt', () => {
  it('carries open and recent tasks, nodes, failures, the conversation and the operator last', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const state: FleetState = {
      at, projects: ['local/demo'],
      tasks: [
        { id: 1, title: 'Long\nmigration', status: 'in_progress', agent: 'claude', model: 'sonnet', project: 'local/demo', attempts: 1, reason: '', updatedAt: at, node: 'n1' },
        { id: 2, title: 'Old', status: 'done', agent: 'codex', model: '', project: 'local/demo', attempts: 2, reason: '', updatedAt: at },
      ],
      nodes: [{ name: 'n1', state: 'up', slots: 2, inFlight: 1, agents: ['claude'], tools: [] }],
      failures: [{ taskId: 3, title: 'x', attempt: 1, node: 'n1', agent: 'claude', errorClass: 'RateLimit', errorMessage: '429', finishedAt: at }],
    };
    const p = chatPrompt(state, [{ id: 1, session: 's', role: 'user', text: 'hi', actions: [], agent: '', model: '', at }], 's', 'what now?');
    expect(p).toContain('## Tasks not done (1)\n#1 in_progress agent=claude/sonnet node=n1 attempts=1 project=local/demo "Long migration"\n');
    expect(p).toContain('## Recently done (1)\n#2 done agent=codex attempts=2');
    expect(p).toContain('n1 up slots=2 running=1 agents=claude');
    expect(p).toContain('#3 attempt 1 on n1 (claude) at 2026-01-01T00:00:00.000Z: RateLimit: 429');
    expect(p).toContain('## Conversation so far (session s)\nuser: hi\n');
    expect(p.endsWith('## Operator\nwhat now?\n')).toBe(true);
  });
});
