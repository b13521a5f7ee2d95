// The bus contract, run against both implementations: LocalBus (in-process) and
// NatsBus on a real nats-server. What the coordinator and nodes rely on: per-subject
// work queues, capacity-bounded pulls, ack/nak/term, redelivery, max-deliver
// exhaustion reaching onExhausted, msgId dedupe, purge, KV TTL, request/reply.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus, Delivery } from '../../runtime/bus/bus.js';
import { BusRequestError } from '../../runtime/bus/bus.js';
import { LocalBus } from '../../runtime/bus/local.js';
import { NatsBus } from '../../runtime/bus/nats.js';
import { natsServerAvailable, startNatsServer, type NatsServer } from '../harness/nats-server.js';
import { waitFor } from '../harness/wait.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const natsOk = natsServerAvailable();
if (!natsOk) console.warn('\n*** SKIPPING NatsBus contract tests: nats-server is not installed ***\n');

let server: NatsServer | undefined;
let n = 0;

const impls: Array<{ name: string; skip: boolean; make: () => Promise<Bus> }> = [
  { name: 'LocalBus', skip: false, make: async () => new LocalBus() },
  { name: 'NatsBus', skip: !natsOk, make: async () => NatsBus.connect({ url: server!.url, name: `bus-test-${++n}` }) },
];

beforeAll(async () => { if (natsOk) server = await startNatsServer({ jetstream: true }); });
afterAll(async () => { await server?.stop(); });

for (const impl of impls) {
  describe.skipIf(impl.skip)(`bus contract: ${impl.name}`, () => {
    let q = 0;
    const queueName = () => `TEST_${impl.name}_${++q}`;

    it('delivers each message once to the consumer of its subject, never more than its capacity at a time', async () => {
      const bus = await impl.make();
      try {
        const name = queueName();
        const wq = await bus.workQueue(name, [`${name}.>`]);
        for (let i = 0; i < 10; i++) await wq.publish(`${name}.a`, enc(`m${i}`));
        await wq.publish(`${name}.b`, enc('for b'));
        const got: string[] = [];
        const held: Delivery[] = [];
        let peak = 0;
        const c = await wq.consume({
          durable: `${name}_a`, filter: `${name}.a`, capacity: () => 3 - held.length,
          onMessage: (d) => { held.push(d); peak = Math.max(peak, held.length); got.push(dec(d.data)); },
        });
        await waitFor(() => held.length === 3, { what: 'three deliveries' });
        // Finish them one by one: each freed slot lets exactly one more in.
        while (got.length < 10 || held.length) {
          const d = held.shift();
          if (d) await d.ack();
          c.wake();
          await waitFor(() => held.length > 0 || got.length === 10, { what: 'the next delivery' });
          if (got.length === 10 && !held.length) break;
        }
        expect(peak).toBe(3);
        expect(got.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
        await c.stop();
      } finally {
        await bus.close();
      }
    });

    it('redelivers a nak, drops a msgId repeat, and reports exhaustion after max deliveries', async () => {
      const bus = await impl.make();
      try {
        const name = queueName();
        const wq = await bus.workQueue(name, [`${name}.>`]);
        const exhausted: string[] = [];
        wq.onExhausted((_s, data) => { exhausted.push(dec(data)); });
        await wq.publish(`${name}.x`, enc('once'), { msgId: 'id-1' });
        await wq.publish(`${name}.x`, enc('once'), { msgId: 'id-1' });
        await wq.publish(`${name}.x`, enc('poison'), { msgId: 'id-2' });
        const counts = new Map<string, number[]>();
        const c = await wq.consume({
          durable: `${name}_x`, filter: `${name}.x`, capacity: () => 5, maxDeliver: 3, ackWaitMs: 2_000,
          onMessage: async (d) => {
            const body = dec(d.data);
            counts.set(body, [...(counts.get(body) ?? []), d.deliveryCount]);
            if (body === 'poison') await d.nak(50);
            else if (d.deliveryCount === 1) await d.nak(50);
            else await d.ack();
          },
        });
        await waitFor(() => exhausted.length === 1, { timeoutMs: 15_000, what: 'the poison message to be exhausted' });
        expect(exhausted).toEqual(['poison']);
        expect(counts.get('poison')).toEqual([1, 2, 3]);
        expect(counts.get('once')).toEqual([1, 2]);
        await c.stop();
      } finally {
        await bus.close();
      }
    });

    it('purges a subject and keeps the others', async () => {
      const bus = await impl.make();
      try {
        const name = queueName();
        const wq = await bus.workQueue(name, [`${name}.>`]);
        await wq.publish(`${name}.lost`, enc('1'));
        await wq.publish(`${name}.lost`, enc('2'));
        await wq.publish(`${name}.kept`, enc('3'));
        expect(await wq.purge(`${name}.lost`)).toBe(2);
        const got: string[] = [];
        const c = await wq.consume({ durable: `${name}_k`, filter: `${name}.*`, capacity: () => 5, onMessage: async (d) => { got.push(dec(d.data)); await d.ack(); } });
        await waitFor(() => got.length === 1, { what: 'the kept message' });
        expect(got).toEqual(['3']);
        await c.stop();
      } finally {
        await bus.close();
      }
    });

    it('KV entries are watched and expire after their TTL', async () => {
      const bus = await impl.make();
      try {
        const kv = await bus.kv(`kv_${impl.name}_${++q}`, { ttlMs: 1_000 });
        const seen: string[] = [];
        const stop = await kv.watch((e) => seen.push(`${e.operation} ${e.key}`));
        await kv.put('node-1', enc('hello'));
        expect(dec((await kv.get('node-1'))!.value)).toBe('hello');
        expect(await kv.keys()).toEqual(['node-1']);
        await waitFor(() => seen.includes('PUT node-1'), { what: 'the watch to see the put' });
        await waitFor(async () => (await kv.get('node-1')) === undefined, { timeoutMs: 5_000, what: 'the entry to expire' });
        stop();
      } finally {
        await bus.close();
      }
    });

    it('request/reply: answers, error replies, no responders', async () => {
      const bus = await impl.make();
      try {
        const sub = await bus.serve('test.control.n1', async (data) => {
          const s = dec(data);
          if (s === 'bad') throw new Error('unknown op bad');
          return enc(`ok ${s}`);
        });
        expect(dec(await bus.request('test.control.n1', enc('kill')))).toBe('ok kill');
        await expect(bus.request('test.control.n1', enc('bad'))).rejects.toThrow('unknown op bad');
        const err = await bus.request('test.control.nobody', enc('kill'), { timeoutMs: 1_000 }).catch((e) => e);
        expect(err).toBeInstanceOf(BusRequestError);
        expect(['no_responders', 'timeout']).toContain(err.code);
        await sub.unsubscribe();
      } finally {
        await bus.close();
      }
    });
  });
}

describe.skipIf(!natsOk)('NatsBus credentials', () => {
  it('connects with the server token and refuses without it, saying why', async () => {
    const secured = await startNatsServer({ jetstream: true, token: 's3cret-nats-token' });
    try {
      const err = await NatsBus.connect({ url: secured.url, name: 'no-token' }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/^cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: .*(Authorization|AUTHORIZATION)/);
      const wrong = await NatsBus.connect({ url: secured.url, token: 'nope', name: 'wrong-token' }).catch((e: Error) => e);
      expect((wrong as Error).message).toMatch(/Authorization|AUTHORIZATION/);
      const bus = await NatsBus.connect({ url: secured.url, token: 's3cret-nats-token', name: 'with-token' });
      try {
        const kv = await bus.kv('auth_check', { ttlMs: 5_000 });
        await kv.put('k', enc('v'));
        expect(dec((await kv.get('k'))!.value)).toBe('v');
        expect(bus.description).not.toContain('s3cret');
      } finally {
        await bus.close();
      }
    } finally {
      await secured.stop();
    }
  });
});
