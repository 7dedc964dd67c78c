/**
 * Bringing sessions back from the database at start: each from its snapshot,
 * then its logged commands run again, which gives exactly the state it had
 * at its last acknowledged command (the engine is deterministic). A session
 * that cannot come back is reported and the others still load:
 *
 * - damaged (a checksum fails, a record is missing, its snapshot or a command
 *   does not decode or replay): a copy of the database is kept beside it
 *   (spikeserve.db.damaged-<time>) and the session is dropped from the live
 *   database, so one bad row does not block every later start;
 * - not loadable now (past MAX_TOTAL_SYNAPSES, or its backend unavailable):
 *   left untouched in the database and listed, to load on its next request
 *   once there is room or the backend runs.
 */
import { Network, runToEnd, SNAPSHOT_VECTORS, synapseCount, type BackendName } from '../engine/index.js';
import { isSpikeserveError } from '../errors.js';
import { decodeBlob } from '../persist/codec.js';
import type { Journal } from '../persist/journal.js';
import type { LoadedSession, LoadResult } from '../persist/rows.js';
import { stamp } from '../persist/salvage.js';
import { RECORD_KIND, type RecordKind, type SessionLog } from '../persist/session-log.js';
import type { LoggedCommand } from '../api/command-codec.js';
import type { Session, SessionLimits } from './session.js';
import { parseSnapshotMeta, type SnapshotMeta } from './spike-stats.js';

export interface RestoreReport {
  restored: number;
  /** Sessions left in the database, not loaded at start (memory bound, backend): they load on their next request if they can. */
  kept: { id: string; reason: string }[];
  /** Sessions found damaged and dropped (their data is in `preservedCopy`). */
  damaged: { id: string; reason: string }[];
  /** Damage to the database file itself, found and worked around when it was opened. */
  fileDamage: string[];
  /** Where the damaged data was kept, if anything was damaged. */
  preservedCopy: string | null;
}

const KIND_NAMES = new Map<number, RecordKind>(Object.entries(RECORD_KIND).map(([k, v]) => [v, k as RecordKind]));

type NetworkLimits = Pick<SessionLimits, 'maxNeurons' | 'maxSynapses' | 'maxPopulations' | 'maxConnections' | 'maxBatchSize'>;

/** Rebuilds the network from a loaded session's snapshot and lists its commands; throws if they cannot be read. */
export function decodeLoaded(loaded: LoadedSession, limits: NetworkLimits): { net: Network; meta: SnapshotMeta; commands: LoggedCommand[] } {
  return runToEnd(decodeLoadedPausing(loaded, limits));
}

/** As decodeLoaded, pausing (yield) every so often while the network is rebuilt (see decodeSnapshotPausing). */
export function* decodeLoadedPausing(loaded: LoadedSession, limits: NetworkLimits): Generator<void, { net: Network; meta: SnapshotMeta; commands: LoggedCommand[] }> {
  const commands: LoggedCommand[] = [];
  for (const r of loaded.records) {
    r.entries.forEach((e, i) => {
      const kind = KIND_NAMES.get(e.kind);
      if (!kind) throw new Error(`log record ${r.seq + i} has an unknown kind ${e.kind}`);
      commands.push({ kind, payload: e.payload });
    });
  }
  const { meta, data } = loaded.snapshot!;
  return { ...(yield* decodeSnapshotPausing({ meta, data, backend: loaded.row.backend }, limits)), commands };
}

/** A saved snapshot: its statistics (`meta`) and its network state (`data`), on `backend`. */
export type SavedSnapshot = { meta: string; data: Buffer; backend: string };

/**
 * A saved snapshot decoded (throws if it cannot be read), pausing (yield)
 * every so often while its numbers are checked and copied into the network
 * (Network.restore): run in slices, so that a large one does not hold the
 * event loop.
 */
export function* decodeSnapshotPausing(saved: SavedSnapshot, limits: NetworkLimits): Generator<void, { net: Network; meta: SnapshotMeta }> {
  const meta = parseSnapshotMeta(saved.meta);
  const net = yield* Network.restore(decodeBlob(saved.data, { typedKeys: SNAPSHOT_VECTORS }), {
    limits: { maxNeurons: limits.maxNeurons, maxSynapses: limits.maxSynapses, maxPopulations: limits.maxPopulations, maxConnections: limits.maxConnections, maxBatchSize: limits.maxBatchSize },
    backend: saved.backend as BackendName,
  });
  return { net, meta };
}

/** A session log's counters after loading: what compaction decisions start from. */
export function logState(loaded: LoadedSession, replayed: { steps: number; bytes: number }) {
  const upto = loaded.snapshot!.upto;
  return {
    seq: upto + loaded.commands,
    upto,
    firstLiveId: loaded.firstLiveId,
    steps: replayed.steps,
    bytes: replayed.bytes,
    snapshotBytes: loaded.snapshot!.data.length,
  };
}

export type SessionFields = { id: string; name: string | null; seq: number; owner: string | null; createdAt: number };

/** What restoreSessions needs of the session manager. */
export interface RestoreContext {
  limits: SessionLimits;
  maxTotalSynapses: number;
  totalSynapses(): number;
  /** Puts a session under management; `init` runs on it first and may throw to abandon it. */
  adopt(net: Network, fields: SessionFields, log: SessionLog, init: (session: Session) => void): Session;
  /**
   * Lists a session that stays on disk. `decoded` (its state rebuilt, on its
   * own backend or, when that cannot run here, on the native one) is replayed
   * once for its listing, then released; it throws if the commands do not replay.
   */
  keep(fields: SessionFields, backend: string, log: SessionLog, decoded: Decoded): void;
}

export type Decoded = ReturnType<typeof decodeLoaded>;

const UNBOUNDED = { maxNeurons: Number.MAX_SAFE_INTEGER, maxSynapses: Number.MAX_SAFE_INTEGER };

function isCode(e: unknown, code: string): boolean {
  return isSpikeserveError(e) && e.code === code;
}

export function restoreSessions(journal: Journal, ctx: RestoreContext, preloaded?: LoadResult): RestoreReport {
  const store = journal.store;
  const loadedAll = preloaded ?? store.load();
  const report: RestoreReport = { restored: 0, kept: [], damaged: [], fileDamage: loadedAll.fileDamage, preservedCopy: null };
  const drop: number[] = [];
  for (const l of loadedAll.sessions) {
    const id = l.row.id;
    if (l.damage) {
      report.damaged.push({ id, reason: l.damage });
      drop.push(l.row.key);
      continue;
    }
    const fields: SessionFields = { id, name: l.row.name, seq: l.row.seq, owner: l.row.owner, createdAt: l.row.createdAt };
    // Attached whether loaded or not: its records stay until it is deleted or compacted.
    const log = journal.attach(l.row.key, logState(l, { steps: 0, bytes: 0 }));
    let decoded: Decoded;
    let kept: string | null = null;
    try {
      try {
        decoded = decodeLoaded(l, ctx.limits);
      } catch (e) {
        if (isCode(e, 'BACKEND_UNAVAILABLE')) kept = `its backend "${l.row.backend}" does not run on this server now: ${(e as Error).message}`;
        else if (isCode(e, 'LIMIT_EXCEEDED')) kept = `over this server's limits: ${(e as Error).message}`;
        else throw e;
        // Listed from a replay on the native backend without limits (step count and pending update do not depend on either); never saved from it.
        decoded = decodeLoaded({ ...l, row: { ...l.row, backend: 'native' } }, UNBOUNDED);
      }
    } catch (e) {
      log.detach();
      report.damaged.push({ id, reason: `its snapshot cannot be read: ${(e as Error).message}` });
      drop.push(l.row.key);
      continue;
    }
    const synapses = synapseCount(decoded.net.spec);
    if (kept === null && ctx.totalSynapses() + synapses > ctx.maxTotalSynapses) kept = `over this server's memory bound (MAX_TOTAL_SYNAPSES ${ctx.maxTotalSynapses})`;
    try {
      if (kept !== null) {
        ctx.keep(fields, l.row.backend, log, decoded);
        report.kept.push({ id, reason: kept });
        continue;
      }
      ctx.adopt(decoded.net, fields, log, (session) => {
        log.reset(logState(l, session.loadState(decoded.net, decoded.meta, decoded.commands)));
      });
      report.restored++;
    } catch (e) {
      log.detach();
      report.damaged.push({ id, reason: `its logged commands do not replay: ${(e as Error).message}` });
      drop.push(l.row.key);
    }
  }
  if (drop.length > 0) {
    const copy = `${store.file}.damaged-${stamp()}`;
    try {
      store.backupTo(copy);
      report.preservedCopy = copy;
    } catch (e) {
      // Without a copy, dropping them would lose their data for good: leave them where they are.
      for (const d of report.damaged) d.reason += ` (left in the database: no copy could be made: ${(e as Error).message})`;
      for (const l of loadedAll.sessions) if (drop.includes(l.row.key) && l.firstLiveId !== null) journal.pin(l.firstLiveId);
      return report;
    }
    journal.dropSessions(drop);
    journal.flush();
  }
  return report;
}
