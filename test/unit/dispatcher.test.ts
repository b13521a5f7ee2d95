// The dispatcher never drops a task: a refusal ends its wait, any other error retries it.
import { describe, expect, it } from 'vitest';
import { Dispatcher } from '../../coordinator/dispatcher.js';
import type { NodeSnapshot } from '../../coordinator/placement.js';
import { waitFor } from '../harness/wait.js';

class Refused extends Error {}
const node: NodeSnapshot = { name: 'n', state: 'up', slots: 4, inFlight: 0, agents: ['a'], tools: [] };

describe('dispatcher', () => {
  it('a database blip while dispatching leaves the task queued and it is dispatched on the next try', async () => {
    const calls: number[] = [];
    let fail = true;
    const d = new Dispatcher({
      snapshots: () => [node],
      dispatch: async (taskId) => { calls.push(taskId); if (fail) { fail = false; throw new Error('connection terminated unexpectedly'); } },
      isRefusal: (err) => err instanceof Refused,
    });
    d.enqueue({ taskId: 1, agent: 'a', requiredTools: [], notBefore: 0 });
    await waitFor(() => calls.length >= 1, { what: 'the first try' });
    expect(d.has(1)).toBe(true);
    expect(d.waiting(1)).toMatch(/retry scheduled|dispatch failed/);
    await waitFor(() => calls.length === 2 && !d.has(1), { timeoutMs: 5_000, what: 'the retry' });
    d.stop();
  });

  it('a refusal (the task changed meanwhile) ends the wait without a retry', async () => {
    const calls: number[] = [];
    const d = new Dispatcher({ snapshots: () => [node], dispatch: async (id) => { calls.push(id); throw new Refused('closed'); }, isRefusal: (e) => e instanceof Refused });
    d.enqueue({ taskId: 2, agent: 'a', requiredTools: [], notBefore: 0 });
    await waitFor(() => calls.length === 1, { what: 'the try' });
    expect(d.has(2)).toBe(false);
    d.stop();
  });
});
