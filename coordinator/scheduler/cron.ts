// Cron decisions, pure: is an expression valid, and which scheduled time (if any) is due
// now. Missed runs are caught up at most once (the latest one), and only within 24 h.
import { Cron } from 'croner';

export const CATCH_UP_MS = 24 * 3600 * 1000;

/** A schedule we can evaluate, or the reason it is refused. */
export function parseSchedule(expr: string, timezone?: string): Cron | string {
  const fields = expr.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return `"${expr}" has ${fields} fields: a cron schedule has 5 (minute hour day month weekday) or 6 (seconds first)`;
  if (timezone) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      return `"${timezone}" is not a time zone (use an IANA name such as Europe/Berlin or America/New_York)`;
    }
  }
  try {
    return new Cron(expr, { timezone: timezone || undefined, paused: true });
  } catch (err) {
    return `"${expr}" is not a valid cron schedule${timezone ? ` in ${timezone}` : ''}: ${(err as Error).message}`;
  }
}

/**
 * The scheduled time to fire at `now`, if any: the latest occurrence at or before `now`
 * that is after the last one fired (or the job's creation) and within the catch-up window.
 */
export function dueAt(cron: Cron, o: { lastScheduled?: Date; since: Date; now: Date; windowMs?: number }): Date | undefined {
  const latest = cron.previousRuns(1, new Date(o.now.getTime() + 1))[0];
  if (!latest) return undefined;
  const floor = Math.max(o.lastScheduled?.getTime() ?? -Infinity, o.since.getTime(), o.now.getTime() - (o.windowMs ?? CATCH_UP_MS));
  return latest.getTime() > floor ? latest : undefined;
}

/** When the next occurrence after `now` is (for the timer), or undefined. */
export function nextAt(cron: Cron, now: Date): Date | undefined {
  return cron.nextRun(now) ?? undefined;
}
