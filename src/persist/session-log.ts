/**
 * A SessionLog is one session's view of the journal: its sequence numbers,
 * how much log has grown since its snapshot (to decide when to compact), and
 * the batch that holds its latest write. If a commit fails, each session in
 * it is marked failed: its replies fail with PERSISTENCE_FAILED until the
 * owner reloads it from the database (Journal onFailure), so memory never
 * runs ahead of disk for long and a gap can never open in a session's log.
 */
import { SpikeserveError } from '../errors.js';
import { PART_BYTES } from './parts.js';
import type { PendingBatch, SnapshotData } from './pending-batch.js';
import { snapshotBytes, type LogRow, type SessionRow } from './rows.js';

/** What each kind of logged command is, as stored in the log's `kind` column. */
export const RECORD_KIND = { step: 1, reward: 2, reset: 3, weights: 4 } as const;
export type RecordKind = keyof typeof RECORD_KIND;

/** A session's commands in one commit share a row up to about this many bytes (a row is one value in memory, packed and read whole). */
const ROW_BYTES = 1 << 20;

/** When a session's log is compacted into a snapshot (JournalOptions). */
export interface CompactionBounds {
  compactSteps: number;
  compactMinBytes: number;
}

/** What a SessionLog needs of its journal (Journal). */
export interface LogJournal {
  readonly compaction: CompactionBounds;
  readonly isClosed: boolean;
  /** The pending batch, opened if there is none; throws SHUTTING_DOWN once the journal is closed. */
  batch(): PendingBatch;
  /** An id for a new log row. */
  allocateRecordId(): number;
  /** A command was appended (the journal's maintenance counts them). */
  appended(): void;
  /** The session leaves the journal's care (deleted, detached, or never created). */
  forget(log: SessionLog): void;
  /** A snapshot's blob that will not be committed: its parts are garbage. */
  discard(data: SnapshotData): void;
  /** A snapshot's value encoded, a large one written in parts: see Journal.encodePausing. */
  encodePausing(value: unknown): Generator<void, SnapshotData>;
  /** Sessions whose writes were not saved: see Journal.failed. */
  failed(e: unknown, logs: SessionLog[]): SpikeserveError;
}

/** Where a session's log stands: what attach() starts a SessionLog from and a reload puts back. */
export type LogPosition = { seq: number; upto: number; firstLiveId: number | null; steps: number; bytes: number; snapshotBytes: number };

export class SessionLog {
  readonly key: number;
  private readonly journal: LogJournal;
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
  /** The batch holding this session's latest write. */
  private batch: PendingBatch | null = null;
  /** Asked to compact by its journal (requestCompaction), since its last snapshot. */
  private compactionRequested = false;
  /** The row of the pending batch this session's next commands join; null: they start a new one. */
  private row: LogRow | null = null;
  private rowBytes = 0;
  private failure: SpikeserveError | null = null;
  private removed = false;

  constructor(journal: LogJournal, key: number, s: LogPosition) {
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
    return this.batch !== null && !this.batch.committed ? this.batch.done : null;
  }

  /** Past the compaction bound: the caller should write a snapshot now. */
  get wantsCompaction(): boolean {
    return this.compactsAfter(0);
  }

  /** A record of `bytes` more would take the log past the compaction bound. */
  private compactsAfter(bytes: number): boolean {
    const o = this.journal.compaction;
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
      const id = this.journal.allocateRecordId();
      row = { id, session: this.key, seq, entries: [] };
      p.addRow(this, row);
      this.batch = p;
      this.row = row;
      this.rowBytes = 0;
      if (this.firstLiveId === null) this.firstLiveId = id;
    }
    row.entries.push({ kind: RECORD_KIND[kind], payload });
    this.rowBytes += payload.length;
    p.countCommand();
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
    const replaced = p.putSnapshot(this, { session: this.key, upto: this.seq, meta, data });
    if (replaced !== null) this.journal.discard(replaced);
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
    p.addDeletes([this.key]);
    this.batch = p;
    this.firstLiveId = null;
  }

  /** Stops tracking the session without deleting it (shutdown). */
  detach(): void {
    this.journal.forget(this);
  }

  /** Its session is new: its row and first snapshot go into `p`. */
  created(p: PendingBatch, row: SessionRow, snapshot: { meta: string; data: SnapshotData }): void {
    p.addCreate(this, row, { session: this.key, upto: 0, meta: snapshot.meta, data: snapshot.data });
    this.batch = p;
  }

  /** Its journal wants it compacted (it pins old records): true the first time since its last snapshot. */
  requestCompaction(): boolean {
    if (this.compactionRequested) return false;
    this.compactionRequested = true;
    return true;
  }

  /** Its writes were not saved (a failed commit): see `failed`. `created`: its creation was among them. */
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
