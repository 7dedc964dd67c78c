/**
 * Sessions leaving memory for the database and coming back: hibernation
 * (a snapshot written, the session listed as dormant), making room under
 * MAX_TOTAL_SYNAPSES by hibernating the least recently used, and waking a
 * dormant session on its next request, exactly as it was saved.
 */
import { synapseCount } from '../engine/index.js';
import { isSpikeserveError, SpikeserveError } from '../errors.js';
import { Dormant } from './dormant.js';
import type { HeldSessions } from './held-sessions.js';
import { inSlices } from './in-slices.js';
import { decodeLoadedPausing, logState, type Decoded, type SessionFields } from './restore.js';
import { Session } from './session.js';

/**
 * Hibernates loaded sessions, least recently used first, until `synapses`
 * more fit under MAX_TOTAL_SYNAPSES (with a database; never one busy or
 * held open by a socket). Returns true if a session that would make room
 * is still having its snapshot written in parts (see Session.readyToLeave).
 */
export function makeRoom(held: HeldSessions, synapses: number): boolean {
  if (!held.journal) return false;
  const idle: Session[] = [];
  for (const e of held.entries.values()) if (e instanceof Session && !e.held) idle.push(e);
  idle.sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  let leaving = false;
  for (const s of idle) {
    if (held.capacity.fits(synapses)) return leaving;
    // Busy with the compaction it leaves after, or with a request.
    if (s.busy) leaving ||= s.leaving !== null;
    else if (!hibernate(held, s, 'to make room in memory') && s.leaving !== null) leaving = true;
  }
  return leaving;
}

/** OVERLOADED while sessions are being saved to leave memory and make the room a request needs. */
export function savingForRoom(held: HeldSessions, what: string): SpikeserveError {
  return new SpikeserveError('OVERLOADED', `${what}: sessions not in use are being saved to disk to make room in memory (MAX_TOTAL_SYNAPSES ${held.opts.maxTotalSynapses}); retry in a moment`, {
    retryAfterSeconds: 1,
  });
}

/**
 * Moves a session out of memory: a snapshot of it is written (so that
 * loading it back replays nothing), and it is listed as dormant. Its
 * writes in flight need not be durable yet: loading waits for them.
 */
export function hibernate(held: HeldSessions, s: Session, why: string): boolean {
  const log = s.persistence;
  if (!log || log.failed || s.busy || s.held) return false;
  // A snapshot written in parts first, as a command: the session leaves once it is written (the next pass).
  if (!s.readyToLeave()) return false;
  try {
    s.snapshotIfLogged();
  } catch (err) {
    held.opts.log.error({ err, sessionId: s.id }, 'session could not be hibernated: its snapshot failed; it stays in memory');
    return false;
  }
  const fields: SessionFields = { id: s.id, name: s.name, seq: s.seq, owner: s.owner, createdAt: s.createdAt };
  const d = new Dormant({ fields, backend: s.backend, synapses: synapseCount(s.spec), log, lastUsedAt: s.lastUsedAt, outline: s.summary() });
  held.hibernated(s, d);
  held.opts.log.info({ sessionId: s.id, step: s.stepCount, idleMs: held.opts.now() - s.lastUsedAt }, `session hibernated ${why}: on disk only until its next request`);
  void s.close('hibernated');
  return true;
}

/**
 * Reads a dormant session back from the database, exactly as it was saved
 * (its snapshot, then any logged command after it), and puts it in memory.
 * If it cannot load now (its backend does not run here, no room under
 * MAX_TOTAL_SYNAPSES) it stays on disk, untouched, and the error says why.
 */
export function wake(held: HeldSessions, d: Dormant): Promise<Session> {
  if (d.waking) return d.waking;
  const journal = held.journal!;
  d.waking = (async () => {
    // The snapshot it went to sleep with (or a failed write) settles first.
    await d.log.durable?.catch(() => {});
    if (held.entries.get(d.id) !== d) throw held.notFound(d.id);
    if (held.closing) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and loads no sessions');
    // Read a part at a time and rebuilt in slices: a large session read in one go held the event loop for a second.
    const loaded = await inSlices(journal.store.loadOnePausing(d.log.key, d.log.firstLiveId ?? journal.store.nextRecordId), held.opts.sliceMs);
    // Deleted, or the server stopping, meanwhile.
    if (held.entries.get(d.id) !== d) throw held.notFound(d.id);
    if (held.closing) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and loads no sessions');
    if (!loaded) {
      // Its creation was never saved (that commit failed): it does not exist.
      void held.remove(d, 'deleted');
      throw held.notFound(d.id);
    }
    if (loaded.damage) {
      held.opts.log.error({ sessionId: d.id, reason: loaded.damage }, 'session cannot be read from the database: left there');
      throw new SpikeserveError('PERSISTENCE_FAILED', `session ${d.id} cannot be read back from the database (${loaded.damage}); it is left there for the operator; the server log has the details`);
    }
    let decoded: Decoded;
    try {
      decoded = await inSlices(decodeLoadedPausing(loaded, held.opts.limits), held.opts.sliceMs);
    } catch (e) {
      if (isSpikeserveError(e) && e.code === 'BACKEND_UNAVAILABLE') {
        throw new SpikeserveError(
          'BACKEND_UNAVAILABLE',
          `session ${d.id} runs on the "${d.backend}" backend, which does not run on this server now (${e.message}); it is kept on disk, unchanged, and loads once the server runs with that backend`,
          { sessionId: d.id, backend: d.backend },
        );
      }
      throw e;
    }
    if (held.entries.get(d.id) !== d || held.closing) {
      decoded.net.dispose();
      if (held.entries.get(d.id) !== d) throw held.notFound(d.id);
      throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and loads no sessions');
    }
    if (!held.capacity.fits(d.synapses)) makeRoom(held, d.synapses);
    if (!held.capacity.fits(d.synapses)) {
      decoded.net.dispose();
      throw new SpikeserveError(
        'OVERLOADED',
        `session ${d.id} is on disk and its ${d.synapses} synapses do not fit in memory now (MAX_TOTAL_SYNAPSES ${held.opts.maxTotalSynapses}, ${held.capacity.loadedSynapses} in use by sessions busy or held open); retry later`,
        { retryAfterSeconds: 5 },
      );
    }
    const session = held.add(decoded.net, d.fields, d.log, (s) => {
      d.log.reset(logState(loaded, s.loadState(decoded.net, decoded.meta, decoded.commands)));
    });
    held.opts.log.info({ sessionId: d.id, step: session.stepCount }, 'session loaded from disk');
    return session;
  })().finally(() => {
    d.waking = null;
  });
  return d.waking;
}
