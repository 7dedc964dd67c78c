/**
 * Sessions moving between nodes: one taken out of memory here in its saved
 * form (a snapshot, as hibernation writes), and one saved form taken in,
 * under the id, owner, name and creation time it had on the other node.
 */
import { synapseCount } from '../engine/index.js';
import type { HeldSessions } from './held-sessions.js';
import type { SnapshotData } from '../persist/pending-batch.js';
import { hibernate, makeRoom, savingForRoom, wake } from './hibernation.js';
import { inSlices } from './in-slices.js';
import { decodeSnapshotPausing } from './restore.js';
import { Session } from './session.js';

/** A session as it moves between nodes: who it is, and its saved snapshot (statistics and network state). */
export interface SavedSession {
  fields: { id: string; name: string | null; owner: string | null; createdAt: number };
  backend: string;
  meta: string;
  data: Buffer;
}

/**
 * Takes the session out of memory (a snapshot written, as hibernation does)
 * and returns its saved form, once that is durable. The session stays,
 * dormant, until it is deleted: if the move fails, its next request loads
 * it back. Throws unless it is idle (no command queued, no socket holding
 * it) and saved to a database.
 */
export async function exportSaved(held: HeldSessions, id: string): Promise<SavedSession> {
  const journal = held.journal;
  if (!journal) throw new Error('sessions kept in memory only (DATA_DIR=) cannot move');
  for (let tries = 0; ; tries++) {
    const e = held.entry(id);
    if (e instanceof Session) {
      await e.drained();
      if (held.entries.get(id) !== e) continue;
      if (!e.held && !e.readyToLeave()) {
        // Its snapshot is written in parts, as its next command, first.
        if (tries > 4) throw new Error(`session ${id} keeps changing while it is saved to move`);
        await e.leaving;
        continue;
      }
      if (!hibernate(held, e, 'to move to another node')) throw new Error(`session ${id} is in use (a socket holds it, or a command is queued) or its log failed`);
      continue;
    }
    if (e.waking) {
      await e.waking.catch(() => {});
      continue;
    }
    await e.log.durable?.catch(() => {});
    if (held.entries.get(id) !== e || e.waking) continue;
    const loaded = await inSlices(journal.store.loadOnePausing(e.log.key, e.log.firstLiveId ?? journal.store.nextRecordId), held.opts.sliceMs);
    if (held.entries.get(id) !== e || e.waking) continue;
    if (!loaded || loaded.damage || !loaded.snapshot) throw new Error(`session ${id} cannot be read from the database: ${loaded?.damage ?? 'not there'}`);
    if (loaded.commands > 0) {
      // Dormant since the start with commands after its snapshot: load it and hibernate it again, which folds them in.
      if (tries > 2) throw new Error(`session ${id} keeps logged commands after its snapshot`);
      await wake(held, e);
      continue;
    }
    return { fields: { id, name: e.fields.name, owner: e.fields.owner, createdAt: e.fields.createdAt }, backend: loaded.row.backend, meta: loaded.snapshot.meta, data: loaded.snapshot.data };
  }
}

/** Saves a session moved here to the database, then puts it in memory exactly as it was; resolves once it is durable. */
export async function importSaved(held: HeldSessions, saved: SavedSession): Promise<void> {
  held.checkOpen();
  const journal = held.journal;
  if (!journal) throw new Error('a server keeping sessions in memory only (DATA_DIR=) takes no sessions from other nodes');
  if (held.entries.has(saved.fields.id)) throw new Error(`session ${saved.fields.id} is already here`);
  // Rebuilt in slices, and saved in parts: a large session in one go held the event loop for seconds.
  const decoded = await inSlices(decodeSnapshotPausing(saved, held.opts.limits), held.opts.sliceMs);
  const synapses = synapseCount(decoded.net.spec);
  const admit = () => {
    held.checkOpen();
    if (held.entries.has(saved.fields.id)) throw new Error(`session ${saved.fields.id} is already here`);
    if (!held.capacity.fits(synapses) && makeRoom(held, synapses) && !held.capacity.fits(synapses)) throw savingForRoom(held, `session ${saved.fields.id} does not fit in memory now`);
    held.capacity.check(saved.fields.owner, held.entries.size, synapses);
  };
  let data: SnapshotData | null = null;
  try {
    admit();
    data = await inSlices(journal.storePausing(saved.data), held.opts.sliceMs);
    // Again: other sessions may have come and gone while it was written.
    if (!Buffer.isBuffer(data)) admit();
  } catch (e) {
    decoded.net.dispose();
    if (data !== null) journal.discard(data);
    throw e;
  }
  const row = { ...saved.fields, seq: held.seq + 1 };
  held.seq = row.seq;
  const log = journal.create({ ...row, backend: saved.backend }, { meta: saved.meta, data });
  held.add(decoded.net, row, log, (s) => {
    s.loadState(decoded.net, decoded.meta, []);
  });
  held.capacity.owned(saved.fields.owner, synapses, 1);
  await log.durable;
}
