/**
 * Group commit: every state-changing command of every session goes into the
 * pending batch, and the batch is written in one commit. Replies wait for
 * their batch, so a reply is only sent once its command is durable, and a
 * commit's cost is shared by every command in it. When it is written:
 *
 * - the first batch of a turn of the event loop is written as soon as the
 *   callback that started it is done (process.nextTick, after its promise
 *   jobs): a lone client in request-reply does not wait for the end of the
 *   turn, and every message of one socket read (a pipelining client) shares
 *   it;
 * - when requests arrive on several connections in the same turn, a batch
 *   started later in that turn is written when the turn ends (setImmediate),
 *   after every request of the turn has run its command: one commit for all,
 *   and their replies leave together (which, with the load client on the
 *   same cores, measured 20-30% more requests a second than a commit each).
 *
 * Finding where a turn ends takes a setImmediate, which cost a lone client
 * in request-reply 4% of its round trip (an extra pass of the event loop
 * per request). So turns are watched only while they are shared: always
 * with PERSIST_SYNC=full (a disk flush per commit), otherwise one turn in
 * SAMPLE_TURNS, and every turn from the first sampled turn that held several
 * batches until QUIET_TURNS watched turns in a row held one.
 *
 * While one batch commits nothing else runs, so there is never more than one
 * batch pending.
 *
 * A SessionLog is one session's view: its sequence numbers, how much log has
 * grown since its snapshot (to decide when to compact), and the batch that
 * holds its latest write. If a commit fails, each session in it is marked
 * failed: its replies fail with PERSISTENCE_FAILED until the owner reloads it
 * from the database (onFailure), so memory never runs ahead of disk for long
 * and a gap can never open in a session's log.
 *
 * A large snapshot is written in parts before the batch that refers to it
 * (encodePausing, snapshotPausing; see store.ts): only the small row that
 * refers to them waits for the group commit. Parts no snapshot refers to any
 * more are deleted a few at a time between turns.
 */
import { SpikeserveError } from '../errors.js';
import { blobPieces, encodeBlob, planBlob } from './codec.js';
import { PART_BYTES, snapshotBytes, type Batch, type LogRow, type SessionRow, type SnapshotWrite, type Store, type StoredParts } from './store.js';

/** What each kind of logged command is, as stored in the log's `kind` column. */
export const RECORD_KIND = { step: 1, reward: 2, reset: 3, weights: 4 } as const;
export type RecordKind = keyof typeof RECORD_KIND;

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

interface Pending {
  batch: Batch;
  logs: Set<SessionLog>;
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
  /** performance.now() of its first write: how long replies have waited. */
  since: number;
  /** Session logs created in this batch. */
  created: Set<SessionLog>;
  /** Commands in its records (a row may hold several). */
  commands: number;
}

const PRUNE_CHUNK = 20_000;
/** How long after a failed commit its deletes are tried again. */
const DELETE_RETRY_MS = 1000;
/** Without shared turns, one turn with a batch in this many is watched for more batches. */
const SAMPLE_TURNS = 64;
/** Watched turns with one batch each after which turns are no longer watched. */
const QUIET_TURNS = 64;
/** A session's commands in one commit share a row up to about this many bytes (a row is one value in memory, packed and read whole). */
const ROW_BYTES = 1 << 20;

/** What a reply gets when its change could not be saved. */
function persistenceFailed(): SpikeserveError {
  return new SpikeserveError(
    'PERSISTENCE_FAILED',
    'the change could not be saved (the server\'s disk failed or is full); the session is back at its last saved state: retry later',
  );
}

/** A snapshot's blob as a batch holds it: inline, or written in parts beforehand. */
export type SnapshotData = Buffer | StoredParts;

export class Journal {
  readonly store: Store;
  private readonly opts: Required<Omit<JournalOptions, 'onCommit'>> & Pick<JournalOptions, 'onCommit'>;
  private pending: Pending | null = null;
  private scheduled: NodeJS.Immediate | null = null;
  /** A batch of this turn of the loop was already written at the end of its tick: the next one waits for the turn's end. */
  private tickCommitted = false;
  /** This turn is watched: endTurn is scheduled, and batches are counted. */
  private watching = false;
  private batchesThisTurn = 0;
  /** Recent turns held several batches: later batches of a turn wait for its end. */
  private sharing = false;
  private quietTurns = 0;
  private sampleIn = 0;
  private readonly endTurn = () => {
    this.watching = false;
    this.tickCommitted = false;
    if (this.batchesThisTurn > 1) {
      this.sharing = true;
      this.quietTurns = 0;
    } else if (this.sharing && ++this.quietTurns >= QUIET_TURNS) {
      this.sharing = false;
    }
    this.batchesThisTurn = 0;
  };
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
    const parts = this.store.writeParts(blobPieces(plan, PART_BYTES));
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
    return this.sharing || this.store.sync === 'full';
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
    const p = this.batch();
    p.batch.creates.push({ ...row, key });
    p.batch.snapshots.push({ session: key, upto: 0, meta: snapshot.meta, data: snapshot.data });
    p.logs.add(log);
    p.created.add(log);
    log.batch = p;
    return log;
  }

  /** Deletes sessions that are in the database but not loaded (damaged ones) with the next commit. */
  dropSessions(keys: number[]): void {
    this.batch().batch.deletes.push(...keys);
  }

  /** Puts deletes that failed to commit into the pending batch. */
  private takeRetries(): void {
    if (this.retryDeletes.length === 0) return;
    const keys = this.retryDeletes;
    this.retryDeletes = [];
    this.batch().batch.deletes.push(...keys);
  }

  /** Keeps the records from `firstLiveId` on (a session on disk that was not loaded). */
  pin(firstLiveId: number): void {
    this.pins.push(firstLiveId);
  }

  /** Commits the pending batch now (shutdown, tests). Throws if the commit fails. */
  flush(): void {
    this.takeRetries();
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
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

  /** @internal */
  batch(): Pending {
    if (this.closed) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and saves no more changes');
    if (this.pending) return this.pending;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A batch nobody waits on (a compaction) must not turn a failure into an unhandled rejection.
    done.catch(() => {});
    this.pending = {
      batch: { creates: [], records: [], snapshots: [], deletes: [], pruneBelow: null },
      logs: new Set(),
      done,
      resolve,
      reject,
      since: this.opts.now(),
      created: new Set(),
      commands: 0,
    };
    const p = this.pending;
    const full = this.store.sync === 'full';
    if (this.watching) {
      this.batchesThisTurn++;
    } else if (full || this.sharing || --this.sampleIn <= 0) {
      this.watching = true;
      this.batchesThisTurn = 1;
      this.sampleIn = SAMPLE_TURNS;
      setImmediate(this.endTurn);
    }
    if (!this.tickCommitted) {
      if (this.watching && (full || this.sharing)) this.tickCommitted = true;
      // Unless flush() wrote it first.
      process.nextTick(() => {
        if (this.pending === p) this.commit();
      });
    } else {
      this.scheduled = setImmediate(() => {
        this.scheduled = null;
        this.commit();
      });
    }
    return p;
  }

  /** @internal */
  appended(): void {
    if (++this.appendedSinceMaintenance >= 4096) {
      this.appendedSinceMaintenance = 0;
      this.maintain();
    }
  }

  /** @internal */
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
      if (head - f > this.opts.pruneWindow && !log.compactionRequested) {
        log.compactionRequested = true;
        this.opts.onCompactionWanted(log);
      }
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
      p.reject(this.failed(e, [...p.logs], p.created));
      this.collectSoon(DELETE_RETRY_MS);
      return;
    }
    this.totals.commits++;
    this.totals.records += p.commands;
    this.totals.snapshots += p.batch.snapshots.length;
    if (p.batch.pruneBelow !== null) this.pruned = p.batch.pruneBelow;
    for (const log of p.logs) if (log.batch === p) log.batch = null;
    p.resolve();
    this.collectSoon();
    const t1 = this.opts.now();
    this.opts.onCommit?.({ records: p.commands, snapshots: p.batch.snapshots.length, seconds: (t1 - t0) / 1000, lagSeconds: (t1 - p.since) / 1000 });
  }

  /**
   * @internal Sessions whose writes were not saved: each refuses its
   * replies until its owner has reloaded it (onFailure). Returns their error.
   */
  failed(e: unknown, logs: SessionLog[], created: ReadonlySet<SessionLog> = new Set()): SpikeserveError {
    this.totals.failures++;
    const err = persistenceFailed();
    for (const log of logs) log.fail(err, created.has(log));
    this.opts.onFailure(e, logs);
    return err;
  }

  /** @internal */
  get options(): Required<Omit<JournalOptions, 'onCommit'>> {
    return this.opts;
  }
}

/** Where a session's log stands: what attach() starts a SessionLog from and a reload puts back. */
export type LogPosition = { seq: number; upto: number; firstLiveId: number | null; steps: number; bytes: number; snapshotBytes: number };

export class SessionLog {
  readonly key: number;
  private readonly journal: Journal;
  /** Seq of the last record written (or pending). */
  seq!: number;
  /** Seq of the last record the latest snapshot includes. */
  upto!: number;
  /** Log id of the first record after the snapshot; null if there is none. */
  firstLiveId!: number | null;
  /** Network steps and bytes logged since the snapshot, and the snapshot's size: when to compact. */
  private steps!: number;
  private bytes!: number;
  private snapshotBytes!: number;
  /** @internal the batch holding this session's latest write, until it commits. */
  batch: Pending | null = null;
  /** @internal */
  compactionRequested = false;
  /** The row of the pending batch this session's next commands join; null: they start a new one. */
  private row: LogRow | null = null;
  private rowBytes = 0;
  private failure: SpikeserveError | null = null;
  private removed = false;

  /** @internal */
  constructor(journal: Journal, key: number, s: LogPosition) {
    this.journal = journal;
    this.key = key;
    this.reset(s);
  }

  /** Set after a failed commit until the session is reloaded: its writes are dropped and its replies refused. */
  get failed(): SpikeserveError | null {
    return this.failure;
  }

  /** Resolves once everything this session has written is durable; null if it already is. */
  get durable(): Promise<void> | null {
    if (this.failure) return Promise.reject(this.failure);
    return this.batch ? this.batch.done : null;
  }

  /** Past the compaction bound: the caller should write a snapshot now. */
  get wantsCompaction(): boolean {
    return this.compactsAfter(0);
  }

  /** A record of `bytes` more would take the log past the compaction bound. */
  private compactsAfter(bytes: number): boolean {
    const o = this.journal.options;
    return this.steps >= o.compactSteps || this.bytes + bytes >= Math.max(o.compactMinBytes, this.snapshotBytes);
  }

  /**
   * A change whose record takes `bytes` is better recorded by a snapshot:
   * a record larger than a part would be written in one go (a snapshot is
   * written in parts), and one that makes a compaction due would be
   * followed by a snapshot anyway.
   */
  snapshotInstead(bytes: number): boolean {
    return bytes > PART_BYTES || this.compactsAfter(bytes);
  }

  /** Its snapshots are written in parts (snapshotPausing), over several turns of the event loop. */
  get snapshotsInParts(): boolean {
    return this.snapshotBytes > PART_BYTES;
  }

  /** Records after the snapshot. */
  get liveRecords(): number {
    return this.seq - this.upto;
  }

  append(kind: RecordKind, payload: string | Buffer, steps: number): void {
    if (this.failure || this.removed) return;
    const p = this.journal.batch();
    const seq = ++this.seq;
    let row = this.row;
    if (row === null || this.batch !== p || this.rowBytes >= ROW_BYTES) {
      const id = this.journal.store.allocateRecordId();
      row = { id, session: this.key, seq, entries: [] };
      p.batch.records.push(row);
      p.logs.add(this);
      this.batch = p;
      this.row = row;
      this.rowBytes = 0;
      if (this.firstLiveId === null) this.firstLiveId = id;
    }
    row.entries.push({ kind: RECORD_KIND[kind], payload });
    this.rowBytes += payload.length;
    p.commands++;
    this.steps += steps;
    this.bytes += payload.length;
    this.journal.appended();
  }

  /** A snapshot of the session as of its latest record: the records before it become obsolete. */
  snapshot(meta: string, data: SnapshotData): void {
    if (this.failure || this.removed) {
      this.journal.discard(data);
      return;
    }
    const p = this.journal.batch();
    const row: SnapshotWrite = { session: this.key, upto: this.seq, meta, data };
    // One snapshot per session per batch: a newer one replaces an older one not yet written.
    const i = p.batch.snapshots.findIndex((s) => s.session === this.key);
    if (i >= 0) {
      this.journal.discard(p.batch.snapshots[i].data);
      p.batch.snapshots[i] = row;
    } else {
      p.batch.snapshots.push(row);
    }
    p.logs.add(this);
    this.batch = p;
    // Commands after the snapshot start a row of their own: a row is never
    // half obsolete, and firstLiveId is the id of a row.
    this.row = null;
    this.upto = this.seq;
    this.firstLiveId = null;
    this.steps = 0;
    this.bytes = 0;
    this.snapshotBytes = snapshotBytes(data);
    this.compactionRequested = false;
  }

  /**
   * As snapshot(), from the value to encode: a large one is written in parts
   * first, pausing (yield) between them; the caller changes nothing in the
   * session meanwhile. If the parts cannot be written the session fails as
   * after a failed commit (its owner reloads it) and PERSISTENCE_FAILED is thrown.
   */
  *snapshotPausing(meta: string, value: unknown): Generator<void, void> {
    if (this.failure || this.removed) return;
    let data: SnapshotData;
    try {
      data = yield* this.journal.encodePausing(value);
    } catch (e) {
      if (e instanceof SpikeserveError && e.code === 'PERSISTENCE_FAILED' && !this.failure && !this.removed) throw this.journal.failed(e.cause, [this]);
      throw e;
    }
    this.snapshot(meta, data);
  }

  /** Deletes the session from the database with the next commit. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    this.journal.forget(this);
    if (this.journal.isClosed) return;
    const p = this.journal.batch();
    p.batch.deletes.push(this.key);
    this.batch = p;
    this.firstLiveId = null;
  }

  /** Stops tracking the session without deleting it (shutdown). */
  detach(): void {
    this.journal.forget(this);
  }

  /** @internal */
  fail(err: SpikeserveError, created: boolean): void {
    this.failure = err;
    if (created) {
      // Never written: nothing to reload, and nothing to delete later.
      this.removed = true;
      this.journal.forget(this);
    }
  }

  /** After a reload from the database: back to its durable state, writes accepted again. */
  reset(s: LogPosition): void {
    this.failure = null;
    this.batch = null;
    this.row = null;
    this.seq = s.seq;
    this.upto = s.upto;
    this.firstLiveId = s.firstLiveId;
    this.steps = s.steps;
    this.bytes = s.bytes;
    this.snapshotBytes = s.snapshotBytes;
    this.compactionRequested = false;
  }
}
