/**
 * The batch being filled: every write since the last commit, from every
 * session, with the sessions it holds writes of and the promise their
 * replies wait on. While one batch commits nothing else runs, so there is
 * never more than one pending.
 */
import type { Batch, LogRow, SessionRow, SnapshotWrite, StoredParts } from './rows.js';
import type { SessionLog } from './session-log.js';

/** A snapshot's blob as a batch holds it: inline, or written in parts beforehand. */
export type SnapshotData = Buffer | StoredParts;

export class PendingBatch {
  readonly batch: Batch = { creates: [], records: [], snapshots: [], deletes: [], pruneBelow: null };
  /** Sessions with a write in it: each fails if it fails. */
  readonly logs = new Set<SessionLog>();
  /** Sessions created in it: if it fails they never existed. */
  readonly created = new Set<SessionLog>();
  /** Commands in its records (a row may hold several). */
  commands = 0;
  /** Resolves once it is written; rejects with the error the replies get if it is not. */
  readonly done: Promise<void>;
  /** It was written: whatever it holds is durable. */
  committed = false;
  private resolveDone!: () => void;
  private rejectDone!: (e: unknown) => void;

  /** `since`: performance.now() of its first write, how long replies have waited. */
  constructor(readonly since: number) {
    this.done = new Promise<void>((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    // A batch nobody waits on (a compaction) must not turn a failure into an unhandled rejection.
    this.done.catch(() => {});
  }

  /** A new session's row and first snapshot. */
  addCreate(log: SessionLog, row: SessionRow, snapshot: SnapshotWrite): void {
    this.batch.creates.push(row);
    this.batch.snapshots.push(snapshot);
    this.logs.add(log);
    this.created.add(log);
  }

  /** A new log row of a session: its next commands in this batch join it. */
  addRow(log: SessionLog, row: LogRow): void {
    this.batch.records.push(row);
    this.logs.add(log);
  }

  /** One more command in the batch's rows. */
  countCommand(): void {
    this.commands++;
  }

  /** Sessions deleted from the database. */
  addDeletes(keys: readonly number[]): void {
    this.batch.deletes.push(...keys);
  }

  /**
   * A session's snapshot; a newer one replaces an older one of the same
   * session not yet written (one per session per batch), whose blob is
   * returned so that its parts can be discarded.
   */
  putSnapshot(log: SessionLog, row: SnapshotWrite): SnapshotData | null {
    const snapshots = this.batch.snapshots;
    const i = snapshots.findIndex((s) => s.session === row.session);
    this.logs.add(log);
    if (i < 0) {
      snapshots.push(row);
      return null;
    }
    const replaced = snapshots[i].data;
    snapshots[i] = row;
    return replaced;
  }

  committedOk(): void {
    this.committed = true;
    this.resolveDone();
  }

  failed(error: unknown): void {
    this.rejectDone(error);
  }
}
