// Error class -> recovery: cooldown (with backoff and retry-after), reroute to the fallback
// agent, retry, or needs_review with the reason. And routing around what cools down.
import { describe, expect, it } from 'vitest';
import { ERROR_CLASSES } from '../../agent-node/errors.js';
import { cooldownSeconds, decideRecovery, RULES, type RecoveryInput } from '../../coordinator/recovery.js';
import { route } from '../../coordinator/router.js';

const base: RecoveryInput = {
  errorClass: 'Unknown', message: 'boom', agent: 'codex', model: 'gpt-5.1-codex', attempt: 1,
  strikes: 0, cooldownBaseSeconds: 300, retryBaseMs: 10_000,
};
const decide = (o: Partial<RecoveryInput>) => decideRecovery({ ...base, ...o });

describe('recovery by error class', () => {
  it('has a rule for every class the node can report', () => {
    expect(Object.keys(RULES).sort()).toEqual([...ERROR_CLASSES].sort());
  });

  it.each([
    // class,            fallback,  action,         cooldown scope
    ['RateLimit', undefined, 'retry', 'codex/gpt-5.1-codex'],
    ['RateLimit', 'claude', 'reroute', 'codex/gpt-5.1-codex'],
    ['Auth', undefined, 'needs_review', 'codex'],
    ['Auth', 'claude', 'reroute', 'codex'],
    ['ModelUnavailable', undefined, 'needs_review', 'codex/gpt-5.1-codex'],
    ['ContextOverflow', undefined, 'needs_review', undefined],
    ['ContextOverflow', 'claude', 'reroute', undefined],
    ['MissingTool', 'claude', 'reroute', undefined],
    ['PermissionDenied', 'claude', 'needs_review', undefined],
    ['WaitingForInput', 'claude', 'needs_review', undefined],
    ['Timeout', 'claude', 'retry', undefined],
    ['InvalidResponse', undefined, 'retry', undefined],
    ['AgentFailed', undefined, 'retry', undefined],
    ['NetworkError', undefined, 'retry', undefined],
    ['Vanished', undefined, 'retry', undefined],
    ['Unknown', undefined, 'retry', undefined],
    ['SomethingNew', undefined, 'retry', undefined],
  ])('%s (fallback %s) -> %s, cools %s', (errorClass, fallbackAgent, action, scope) => {
    const r = decide({ errorClass, fallbackAgent });
    expect(r.action).toBe(action);
    expect(r.cooldown?.scope).toBe(scope);
    if (action === 'reroute') expect(r.agent).toBe(fallbackAgent);
  });

  it('never reroutes to the failing agent itself', () => {
    expect(decide({ errorClass: 'Auth', fallbackAgent: 'codex' }).action).toBe('needs_review');
  });

  it('needs_review says what to do', () => {
    expect(decide({ errorClass: 'Auth', message: 'exit code 1: 401 Unauthorized' }).reason).toBe("exit code 1: 401 Unauthorized — fix the agent's credentials, then `orch task retry`");
  });

  it('cooldowns double per strike up to 6 h; retry-after wins', () => {
    expect([0, 1, 2, 10].map((s) => cooldownSeconds(300, s))).toEqual([300, 600, 1200, 21_600]);
    expect(cooldownSeconds(300, 3, 42)).toBe(42);
    expect(decide({ errorClass: 'RateLimit', retryAfterSeconds: 7 }).cooldown).toEqual({ scope: 'codex/gpt-5.1-codex', seconds: 7 });
    expect(decide({ errorClass: 'RateLimit', model: '' }).cooldown).toEqual({ scope: 'codex', seconds: 300 });
  });

  it('a retry waits out its cooldown, else backs off per attempt', () => {
    expect(decide({ errorClass: 'RateLimit', strikes: 1 }).delayMs).toBe(600_000);
    expect(decide({ errorClass: 'Timeout', attempt: 3 }).delayMs).toBe(40_000);
    expect(decide({ errorClass: 'Timeout', attempt: 9 }).delayMs).toBe(120_000);
    expect(decide({ errorClass: 'RateLimit', fallbackAgent: 'claude' }).delayMs).toBe(0);
  });
});

describe('routing around cooldowns', () => {
  const state = { agents: ['claude', 'codex', 'kimi'], modelMap: { medium: { claude: ['sonnet', 'opus'] } }, cursor: 0, pick: () => 0 };
  it('round-robin skips an agent cooling down', () => {
    expect(route({ labels: [] }, { ...state, cooling: (a, m) => a === 'claude' && !m }).agent).toBe('codex');
    expect(route({ labels: [] }, { ...state, cooling: () => true }).agent).toBe('claude');
  });
  it('a model list skips a model cooling down', () => {
    expect(route({ labels: [], agent: 'claude' }, { ...state, cooling: (_a, m) => m === 'sonnet' }).model).toBe('opus');
  });
});
