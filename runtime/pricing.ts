// Cost of an attempt from its tokens when the agent reports none: `pricing:` in config
// (USD per million tokens) over shipped defaults. Lookup: `agent/model`, `model`, then the
// longest key contained in the model name (`claude/sonnet` prices `claude-sonnet-4-5`),
// then `agent`. Pure, so node and coordinator price the same way.
import type { Price } from './config/schema.js';

export interface Tokens {
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
}

export function priceFor(pricing: Record<string, Price>, agent: string, model: string): Price | undefined {
  if (model && pricing[`${agent}/${model}`]) return pricing[`${agent}/${model}`];
  if (model && pricing[model]) return pricing[model];
  if (model) {
    const m = model.toLowerCase();
    const hits = Object.keys(pricing)
      .map((k) => ({ k, name: k.startsWith(`${agent}/`) ? k.slice(agent.length + 1) : k.includes('/') ? '' : k }))
      .filter(({ name }) => name && m.includes(name.toLowerCase()))
      .sort((a, b) => b.name.length - a.name.length || Number(b.k.includes('/')) - Number(a.k.includes('/')));
    if (hits.length) return pricing[hits[0].k];
  }
  return pricing[agent];
}

/** USD for the tokens at a price; cache reads/writes fall back to the input price when unpriced. */
export function costOf(t: Tokens, p: Price): number {
  const usd = (t.inputTokens * p.input + t.cacheReadTokens * (p.cache_read ?? p.input)
    + t.cacheWriteTokens * (p.cache_write ?? p.input) + t.outputTokens * p.output) / 1_000_000;
  return Math.round(usd * 1e6) / 1e6;
}
