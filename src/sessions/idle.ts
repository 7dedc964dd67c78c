/**
 * What becomes of sessions left idle: past SESSION_IDLE_TIMEOUT_S they leave
 * memory (hibernated with a database, deleted without one), and with a
 * database, past SESSION_RETENTION_S they are deleted.
 */
import { Dormant } from './dormant.js';
import type { HeldSessions } from './held-sessions.js';
import { hibernate } from './hibernation.js';
import { Session } from './session.js';

/** How often to look for idle sessions, for these timeouts (0: never); null when none applies. */
export function idleCheckMs(held: HeldSessions): number | null {
  const timeouts = [held.opts.idleTimeoutMs, held.journal ? held.opts.retentionMs : 0].filter((t) => t > 0);
  if (timeouts.length === 0) return null;
  // A quarter of the timeout keeps the overshoot small; bounded so short
  // timeouts stay cheap and long ones are still checked every minute.
  return Math.min(60_000, Math.max(50, Math.min(...timeouts) / 4));
}

/**
 * Sessions idle past SESSION_IDLE_TIMEOUT_S leave memory (never one with a
 * command in flight): with a database they hibernate (and one held open by
 * a WebSocket stays), without one they are deleted. With a database,
 * sessions idle past SESSION_RETENTION_S are deleted. Returns the ids.
 */
export function evictIdle(held: HeldSessions): string[] {
  const timeout = held.opts.idleTimeoutMs;
  const retention = held.journal ? held.opts.retentionMs : 0;
  const now = held.opts.now();
  const out: string[] = [];
  for (const e of [...held.entries.values()]) {
    const idleMs = now - e.lastUsedAt;
    if (e instanceof Session && e.busy) continue;
    if (retention > 0 && idleMs >= retention && !(e instanceof Session && e.held) && !(e instanceof Dormant && e.waking)) {
      out.push(e.id);
      held.opts.log.info({ sessionId: e.id, idleMs }, 'session deleted: unused for SESSION_RETENTION_S');
      void held.remove(e, 'deleted');
    } else if (timeout > 0 && e instanceof Session && idleMs >= timeout) {
      if (!held.journal) {
        out.push(e.id);
        held.opts.log.info({ sessionId: e.id, idleMs }, 'session evicted after being idle');
        void held.remove(e, 'evicted');
      } else if (hibernate(held, e, 'after being idle')) {
        out.push(e.id);
      }
    }
  }
  return out;
}
