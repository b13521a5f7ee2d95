import { describe, expect, it } from 'vitest';
import { Actor, AskTimeoutError } from '../../runtime/actor.js';

class Counter extends Actor<{ op: 'add'; n: number } | { op: 'get' } | { op: 'boom' } | { op: 'hang' }> {
  value = 0;
  seen: number[] = [];
  constructor(start = 0) { super('counter'); this.value = start; }
  protected async receive(msg: { op: string; n?: number }): Promise<unknown> {
    if (msg.op === 'add') {
      const before = this.value;
      await new Promise((r) => setImmediate(r)); // interleaving would lose updates here
      this.value = before + msg.n!;
      this.seen.push(msg.n!);
      return this.value;
    }
    if (msg.op === 'boom') throw new Error('boom');
    if (msg.op === 'hang') return new Promise(() => undefined);
    return this.value;
  }
}

describe('actor', () => {
  it('handles one message at a time, in order', async () => {
    const c = new Counter();
    for (let i = 1; i <= 50; i++) c.tell({ op: 'add', n: i });
    expect(await c.ask({ op: 'get' })).toBe(1275);
    expect(c.seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
  it('ask times out with a named error', async () => {
    const c = new Counter();
    await expect(c.ask({ op: 'hang' }, 50)).rejects.toBeInstanceOf(AskTimeoutError);
  });
  it('a failing handler rejects the ask', async () => {
    const c = new Counter();
    await expect(c.ask({ op: 'boom' })).rejects.toThrow('boom');
  });
  it('a failing handler fails only its own message: the next one is handled', async () => {
    const c = new Counter(0);
    await expect(c.ask({ op: 'boom' })).rejects.toThrow('boom');
    expect(await c.ask<number>({ op: 'add', n: 2 })).toBe(2);
    c.stop();
  });
});
