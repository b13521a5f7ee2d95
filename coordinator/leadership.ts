// Leadership: of the coordinators sharing one PostgreSQL, one leads (dispatches, sweeps,
// later syncs GitHub and fires jobs); the others wait as standbys. The leader holds a
// session-level advisory lock on a connection of its own; when it dies its connection
// closes and the lock is free, and a standby that takes it raises the epoch in the
// `leadership` table. Every task transition is fenced by that epoch (Store.fence), so a
// former leader that has not noticed yet cannot write.
import pg from 'pg';
import { logger } from '../runtime/log.js';

const log = logger('leadership');

/** The advisory lock's keys ('orch', 2); migrations use ('orch', 1). */
const LOCK = [0x6f726368, 2] as const;

export interface LeadershipOptions {
  client: pg.ClientConfig;
  /** Who we are, for the `leadership` row and logs. */
  holder: string;
  /** How long a dead leader may go unnoticed: polls and health checks run at a fifth of it. */
  failoverMs: number;
  /** Told once a standby, with the current holder, so it can say so. */
  onStandby?: (holder: string) => void;
}

export class Leadership {
  private lostHandlers = new Set<(why: string) => void>();
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  private constructor(private readonly client: pg.Client, readonly epoch: number, private readonly o: LeadershipOptions) {}

  /**
   * Wait until we lead. Resolves with the leadership (epoch raised); rejects only when
   * `signal` aborts. Connection failures (PostgreSQL down) are retried.
   */
  static async acquire(o: LeadershipOptions, signal?: AbortSignal): Promise<Leadership> {
    const every = Math.max(200, Math.floor(o.failoverMs / 5));
    let toldStandby = false;
    for (;;) {
      if (signal?.aborted) throw new Error('stopped while waiting for leadership');
      const client = new pg.Client({ ...o.client, application_name: 'orch-leadership', keepAlive: true, keepAliveInitialDelayMillis: every });
      client.on('error', () => undefined); // reported through the health check
      try {
        await client.connect();
        for (;;) {
          if (signal?.aborted) throw new Error('stopped while waiting for leadership');
          const got = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [...LOCK]);
          if (got.rows[0].ok) {
            const r = await client.query<{ epoch: string }>(
              `insert into leadership (id, epoch, holder) values (1, 1, $1)
               on conflict (id) do update set epoch = leadership.epoch + 1, holder = excluded.holder, since = now()
               returning epoch`, [o.holder]);
            const l = new Leadership(client, Number(r.rows[0].epoch), o);
            l.watch(every);
            log.info('leading', { epoch: l.epoch, holder: o.holder });
            return l;
          }
          if (!toldStandby) {
            const h = await client.query<{ holder: string }>('select holder from leadership where id = 1');
            o.onStandby?.(h.rows[0]?.holder ?? 'another coordinator');
            toldStandby = true;
          }
          await new Promise((r) => setTimeout(r, every));
        }
      } catch (err) {
        await client.end().catch(() => undefined);
        if (signal?.aborted) throw err;
        log.warn('leadership: PostgreSQL unreachable; trying again', { err: (err as Error).message });
        await new Promise((r) => setTimeout(r, every));
      }
    }
  }

  /** A health check on the lock's own connection: when it fails, the lock is gone. */
  private watch(every: number): void {
    const check = async () => {
      if (this.ended) return;
      try {
        await Promise.race([
          this.client.query('select 1'),
          new Promise((_, rej) => setTimeout(() => rej(new Error('no answer from PostgreSQL')), Math.max(1_000, every * 2))),
        ]);
        this.timer = setTimeout(() => void check(), every);
      } catch (err) {
        this.lose(`the leadership connection failed: ${(err as Error).message}`);
      }
    };
    this.timer = setTimeout(() => void check(), every);
    this.client.on('end', () => this.lose('the leadership connection closed'));
  }

  private lose(why: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    log.warn('leadership lost', { epoch: this.epoch, why });
    void this.client.end().catch(() => undefined);
    for (const h of this.lostHandlers) h(why);
  }

  onLost(h: (why: string) => void): void {
    this.lostHandlers.add(h);
  }

  /** Step down (shutdown): the lock goes with the connection. */
  async release(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    await this.client.query('select pg_advisory_unlock($1, $2)', [...LOCK]).catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}
