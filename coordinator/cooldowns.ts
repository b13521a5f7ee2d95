// Cooldowns of agents and models, kept in PostgreSQL (they survive a restart) and mirrored
// in memory so routing, which is synchronous, can skip what is cooling down.
import type { CooldownRow, Store } from './store/store.js';

/** A cooldown that ended this long ago no longer counts as a strike. */
const STRIKE_MEMORY_MS = 6 * 3600 * 1000;

export class Cooldowns {
  private rows = new Map<string, CooldownRow>();

  constructor(private readonly store: Store, private readonly now: () => number = Date.now) {}

  async load(): Promise<void> {
    for (const r of await this.store.listCooldowns()) this.rows.set(r.scope, r);
  }

  /** Cooldowns in a row so far for a scope (the backoff exponent of the next one). */
  strikes(scope: string): number {
    const r = this.rows.get(scope);
    if (!r) return 0;
    return this.now() - r.until.getTime() > STRIKE_MEMORY_MS ? 0 : r.strikes;
  }

  async put(scope: string, seconds: number, errorClass: string, reason: string): Promise<CooldownRow> {
    const row = await this.store.putCooldown({
      scope, until: new Date(this.now() + seconds * 1000), strikes: this.strikes(scope) + 1, errorClass, reason: reason.slice(0, 500),
    });
    this.rows.set(scope, row);
    return row;
  }

  /** Milliseconds until the agent (and, given one, its model) may run again; 0 when free. */
  remainingMs(agent: string, model = ''): number {
    const t = this.now();
    const ends = [this.rows.get(agent), model ? this.rows.get(`${agent}/${model}`) : undefined]
      .filter((r): r is CooldownRow => !!r).map((r) => r.until.getTime() - t);
    return Math.max(0, ...ends);
  }

  cooling(agent: string, model = ''): boolean {
    return this.remainingMs(agent, model) > 0;
  }

  list(): CooldownRow[] {
    return [...this.rows.values()];
  }
}
