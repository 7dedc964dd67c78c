/**
 * After a failed commit the sessions in it are ahead of the database: each
 * is put back to its saved state (a session whose creation was not saved is
 * dropped), so that what a client is told failed did not happen.
 */
import type { LoadedSession } from '../persist/rows.js';
import type { SessionLog } from '../persist/session-log.js';
import type { Store } from '../persist/store.js';
import type { HeldSessions } from './held-sessions.js';
import { decodeLoadedPausing, logState } from './restore.js';

export function recoverFromFailedCommit(held: HeldSessions, err: unknown, logs: SessionLog[]): void {
  held.opts.log.error({ err, sessions: logs.length }, 'commit to the database failed: the sessions in it go back to their saved state');
  const journal = held.journal!;
  for (const log of logs) {
    const s = held.byKey.get(log.key);
    if (!s) continue;
    if (savedOnDisk(journal.store, log.key) === false) {
      // Never saved (its creation was in the failed commit).
      void held.remove(s, 'deleted');
      continue;
    }
    let loaded: LoadedSession | null = null;
    s.resync(
      function* () {
        // A part of its snapshot at a time, then rebuilt and its log run again in slices.
        loaded = yield* journal.store.loadOnePausing(log.key);
        if (!loaded || loaded.damage) throw new Error(`cannot read session ${s.id} back: ${loaded?.damage ?? 'not in the database'}`);
        return yield* decodeLoadedPausing(loaded, held.opts.limits);
      },
      (replayed) => {
        log.reset(logState(loaded!, replayed));
        held.opts.log.info({ sessionId: s.id, step: s.stepCount }, 'session back at its saved state');
      },
    ).catch((e) => {
      held.opts.log.error({ err: e, sessionId: s.id }, 'session could not be read back after a failed commit: closed here, kept on disk for the next start');
      log.detach();
      held.byKey.delete(log.key);
      void held.remove(s, 'shutdown');
    });
  }
}

/** Whether the session is in the database; null if the database cannot be read now (the reload then reports it). */
function savedOnDisk(store: Store, key: number): boolean | null {
  try {
    return store.has(key);
  } catch {
    return null;
  }
}
