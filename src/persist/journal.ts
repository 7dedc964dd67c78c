/**
 * The journal: every state-changing command of every session goes into the
 * pending batch (pending-batch.ts), and the batch is written in one commit,
 * when group-commit.ts says; replies wait for their batch. A failed commit
 * fails the sessions in it (session-log.ts) and their owner reloads them.
 * Deletes that failed are retried a while later; the front of the log is
 * pruned of records no session needs, and sessions that pin old records are
 * asked to compact.
 *
 * A large snapshot is written in parts before the batch that refers to it
 * (encodePausing; see parts.ts): only the small row that refers to them
 * waits for the group commit. Parts no snapshot refers to any more are
 * deleted a few at a time between turns.
 */
import { SpikeserveError } from '../errors.js';
import { blobPieces, encodeBlob, planBlob } from './codec.js';
import { GroupCommit } from './group-commit.js';
import { PART_BYTES } from './parts.js';
import { PendingBatch, type SnapshotData } from './pending-batch.js';
import { snapshotBytes, type SessionRow } from './rows.js';
import { SessionLog, type CompactionBounds, type LogJournal, type LogPosition } from './session-log.js';
import type { Store } from './store.js';

export interface JournalOptions {
  /** Compact a session's log into a new snapshot once it covers this many network steps. */
  compactSteps: number;
  /** ... or once its records take this many bytes, or more than its snapshot does. */
  compactMinBytes?: number;
  /**
   * Records of log kept behind the newest before a session that still has
   * records that old is asked to compact, so the front of the log can be pruned.
   */
  pruneWindow?: number;
  /** Called after a failed commit with the sessions it held; each must be reloaded (see SessionLog.failed). */
  onFailure: (error: unknown, logs: SessionLog[]) => void;
  /** Called when a session should be compacted but is not being written to (it pins old records). */
  onCompactionWanted: (log: SessionLog) => void;
  /** Measurements of each commit. */
  onCommit?: (m: { records: number; snapshots: number; seconds: number; lagSeconds: number }) => void;
  now?: () => number;
}

const PRUNE_CHUNK = 20_000;
/** How long after a failed commit its deletes are tried again. */
const DELETE_RETRY_MS = 1000;

/** What a reply gets when its change could not be saved. */
function persistenceFailed(): SpikeserveError {
  return new SpikeserveError(
    'PERSISTENCE_FAILED',
    'the change could not be saved (the server\'s disk failed or is full); the session is back at its last saved state: retry later',
  );
}

export class Journal implements LogJournal {
  readonly store: Store;
  private readonly opts: Required<Omit<JournalOptions, 'onCommit'>> & Pick<JournalOptions, 'onCommit'>;
  private pending: PendingBatch | null = null;
  private readonly timing: GroupCommit;
  private readonly logs = new Set<SessionLog>();
  /** First live record ids of sessions kept on disk but not loaded: their records must not be pruned. */
  private readonly pins: number[] = [];
  private pruned = 0;
  private appendedSinceMaintenance = 0;
  private closed = false;
  private lastError: unknown = null;
  /** Sessions whose delete failed to commit: deleted with a later commit. */
  private retryDeletes: number[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  /** Running totals, for metrics. */
  readonly totals = { commits: 0, failures: 0, records: 0, snapshots: 0 };
  /** The next deletion of garbage parts, if one is scheduled. */
  private collecting: NodeJS.Immediate | NodeJS.Timeout | null = null;

  constructor(store: Store, options: JournalOptions) {
    this.store = store;
    this.opts = { compactMinBytes: 64 * 1024, pruneWindow: 200_000, now: () => performance.now(), ...options };
    this.timing = new GroupCommit(store.sync === 'full');
    this.collectSoon();
  }

  /** Schedules the deletion of garbage parts, a few per turn of the event loop (after a failure, a while later). */
  private collectSoon(delayMs = 0): void {
    if (this.collecting !== null || this.closed || this.store.garbageBlobs === 0) return;
    const run = () => {
      this.collecting = null;
      if (this.closed) return;
      try {
        if (!this.store.collectGarbage()) return;
      } catch {
        // A full disk cannot even delete: the parts stay garbage, tried again later (and at the next start).
        this.collectSoon(DELETE_RETRY_MS);
        return;
      }
      this.collectSoon();
    };
    this.collecting = delayMs > 0 ? setTimeout(run, delayMs).unref() : setImmediate(run).unref();
  }

  /**
   * A snapshot's value encoded as a blob: inline if it is small, else
   * written in parts now, pausing (yield) after each, ahead of the commit
   * that will refer to it. Throws PERSISTENCE_FAILED if a part cannot be
   * written, SHUTTING_DOWN if the journal closes meanwhile.
   */
  *encodePausing(value: unknown): Generator<void, SnapshotData> {
    const plan = planBlob(value);
    if (plan.bytes <= PART_BYTES) return encodeBlob(value);
    return yield* this.writePausing(blobPieces(plan, PART_BYTES));
  }

  /** As encodePausing, for a blob already encoded (a snapshot moved here from another node). */
  *storePausing(blob: Buffer): Generator<void, SnapshotData> {
    if (blob.length <= PART_BYTES) return blob;
    return yield* this.writePausing(
      (function* () {
        for (let at = 0; at < blob.length; at += PART_BYTES) yield blob.subarray(at, Math.min(blob.length, at + PART_BYTES));
      })(),
    );
  }

  /** Writes a blob's pieces in parts, pausing (yield) after each; the errors are encodePausing's. */
  private *writePausing(pieces: Iterable<Buffer>): Generator<void, SnapshotData> {
    const parts = this.store.writeParts(pieces);
    try {
      for (;;) {
        const r = parts.next();
        if (r.done) return r.value;
        yield;
        // Ends the writing (its parts become garbage) and throws.
        if (this.closed) parts.throw(new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and saves no more changes'));
      }
    } catch (e) {
      if (e instanceof SpikeserveError) throw e;
      this.collectSoon(DELETE_RETRY_MS);
      throw Object.assign(persistenceFailed(), { cause: e });
    }
  }

  /** Parts written for a snapshot that will not be committed. */
  discard(data: SnapshotData): void {
    if (Buffer.isBuffer(data)) return;
    this.store.discardParts(data);
    this.collectSoon();
  }

  /** Whether later batches of a turn currently wait for its end (see the top of this file). */
  get sharingTurns(): boolean {
    return this.timing.sharingTurns;
  }

  /** Records waiting for the next commit. */
  get pendingRecords(): number {
    return this.pending ? this.pending.commands : 0;
  }

  /** Seconds the oldest uncommitted write has waited. */
  get lagSeconds(): number {
    return this.pending ? (this.opts.now() - this.pending.since) / 1000 : 0;
  }

  /** A session read back from the database at start. */
  attach(key: number, state: LogPosition): SessionLog {
    const log = new SessionLog(this, key, state);
    this.logs.add(log);
    return log;
  }

  /** A new session: its row and first snapshot are written with the next commit. */
  create(row: Omit<SessionRow, 'key'>, snapshot: { meta: string; data: SnapshotData }): SessionLog {
    const key = this.store.allocateKey();
    const log = new SessionLog(this, key, { seq: 0, upto: 0, firstLiveId: null, steps: 0, bytes: 0, snapshotBytes: snapshotBytes(snapshot.data) });
    this.logs.add(log);
    log.created(this.batch(), { ...row, key }, snapshot);
    return log;
  }

  /** Deletes sessions that are in the database but not loaded (damaged ones) with the next commit. */
  dropSessions(keys: number[]): void {
    this.batch().addDeletes(keys);
  }

  /** Puts deletes that failed to commit into the pending batch. */
  private takeRetries(): void {
    if (this.retryDeletes.length === 0) return;
    const keys = this.retryDeletes;
    this.retryDeletes = [];
    this.batch().addDeletes(keys);
  }

  /** Keeps the records from `firstLiveId` on (a session on disk that was not loaded). */
  pin(firstLiveId: number): void {
    this.pins.push(firstLiveId);
  }

  /** Commits the pending batch now (shutdown, tests). Throws if the commit fails. */
  flush(): void {
    this.takeRetries();
    this.timing.flushing();
    this.commit();
    if (this.lastError) {
      const e = this.lastError;
      this.lastError = null;
      throw e;
    }
  }

  /** Commits what is pending and closes the database. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.closed = true;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      if (this.collecting) {
        clearTimeout(this.collecting as NodeJS.Timeout);
        clearImmediate(this.collecting as NodeJS.Immediate);
        this.collecting = null;
      }
      this.store.close();
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The pending batch, opened (and its commit scheduled, see group-commit.ts) if there is none. */
  batch(): PendingBatch {
    if (this.closed) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and saves no more changes');
    if (this.pending) return this.pending;
    const p = new PendingBatch(this.opts.now());
    this.pending = p;
    // Unless flush() wrote it first.
    this.timing.opened(() => {
      if (this.pending === p) this.commit();
    });
    return p;
  }

  /** A command was appended: every so often, the log is maintained. */
  appended(): void {
    if (++this.appendedSinceMaintenance >= 4096) {
      this.appendedSinceMaintenance = 0;
      this.maintain();
    }
  }

  /** The session leaves the journal's care (deleted, detached, or never created). */
  forget(log: SessionLog): void {
    this.logs.delete(log);
  }

  /** Asks sessions that pin old records to compact, and prunes records no session needs. */
  private maintain(): void {
    const head = this.store.nextRecordId;
    let min = head;
    for (const log of this.logs) {
      const f = log.firstLiveId;
      if (f === null) continue;
      if (f < min) min = f;
      if (head - f > this.opts.pruneWindow && log.requestCompaction()) this.opts.onCompactionWanted(log);
    }
    for (const p of this.pins) if (p < min) min = p;
    if (min > this.pruned) {
      const below = Math.min(min, this.pruned + PRUNE_CHUNK);
      this.batch().batch.pruneBelow = below;
    }
  }

  private commit(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    const t0 = this.opts.now();
    try {
      this.store.commit(p.batch);
    } catch (e) {
      this.lastError = e;
      // Deletes are retried a while later (not at once: on a full disk that
      // would be a loop of failing commits that starves the server); everything
      // else is refused.
      if (p.batch.deletes.length > 0 && !this.closed) {
        this.retryDeletes.push(...p.batch.deletes);
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = null;
          if (!this.closed) this.takeRetries();
        }, DELETE_RETRY_MS).unref();
      }
      p.failed(this.failed(e, [...p.logs], p.created));
      this.collectSoon(DELETE_RETRY_MS);
      return;
    }
    this.totals.commits++;
    this.totals.records += p.commands;
    this.totals.snapshots += p.batch.snapshots.length;
    if (p.batch.pruneBelow !== null) this.pruned = p.batch.pruneBelow;
    p.committedOk();
    this.collectSoon();
    const t1 = this.opts.now();
    this.opts.onCommit?.({ records: p.commands, snapshots: p.batch.snapshots.length, seconds: (t1 - t0) / 1000, lagSeconds: (t1 - p.since) / 1000 });
  }

  /**
   * Sessions whose writes were not saved: each refuses its replies until
   * its owner has reloaded it (onFailure). Returns their error.
   */
  failed(e: unknown, logs: SessionLog[], created: ReadonlySet<SessionLog> = new Set()): SpikeserveError {
    this.totals.failures++;
    const err = persistenceFailed();
    for (const log of logs) log.fail(err, created.has(log));
    this.opts.onFailure(e, logs);
    return err;
  }

  /** When a session's log is compacted. */
  get compaction(): CompactionBounds {
    return this.opts;
  }

  /** An id for a new log row. */
  allocateRecordId(): number {
    return this.store.allocateRecordId();
  }
}
