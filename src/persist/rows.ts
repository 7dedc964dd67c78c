/**
 * The rows the database holds and what is written and read back in one go:
 * a session's row, its snapshot, its log rows, a batch of writes committed
 * together, and a session as read back at start or on demand.
 */
import type { LogEntry } from './codec.js';

/** The `kind` of a log row holding several commands; a row of one command has that command's kind (1 and up). */
export const PACKED_KIND = 0;

export type SyncMode = 'normal' | 'full';

export interface SessionRow {
  key: number;
  id: string;
  owner: string | null;
  name: string | null;
  seq: number;
  createdAt: number;
  backend: string;
}

export interface SnapshotRow {
  session: number;
  /** The log seq this snapshot includes (0: none). */
  upto: number;
  /** JSON: what the session keeps beside its network (spike statistics). */
  meta: string;
  data: Buffer;
}

/** A blob already written in parts (parts.ts), which a snapshot row may refer to instead of holding it. */
export interface StoredParts {
  readonly id: number;
  readonly bytes: number;
  /** blobChecksum of the whole blob. */
  readonly crc: number;
}

/** A snapshot as a commit writes it: its blob inline, or written in parts beforehand. */
export interface SnapshotWrite extends Omit<SnapshotRow, 'data'> {
  data: Buffer | StoredParts;
}

/** Bytes of a snapshot's blob, inline or in parts. */
export function snapshotBytes(data: Buffer | StoredParts): number {
  return Buffer.isBuffer(data) ? data.length : data.bytes;
}

/** A row of the log: consecutive commands of one session, the first of them number `seq`. */
export interface LogRow {
  id: number;
  session: number;
  seq: number;
  entries: LogEntry[];
}

export interface Batch {
  creates: SessionRow[];
  records: LogRow[];
  snapshots: SnapshotWrite[];
  deletes: number[];
  /** Delete log rows with id below this (obsolete ones). */
  pruneBelow: number | null;
}

export interface LoadedSession {
  row: SessionRow;
  snapshot: SnapshotRow | null;
  /** Rows with the commands after the snapshot, in log order. */
  records: LogRow[];
  /** Commands in those rows. */
  commands: number;
  /** Why this session cannot be trusted, if it cannot (bad checksum, a gap in its log). */
  damage: string | null;
  /** Id of its first record after the snapshot (null: none): records from here on must be kept. */
  firstLiveId: number | null;
}

export interface LoadResult {
  sessions: LoadedSession[];
  /** Problems with the file itself (corrupt pages): what was readable is in `sessions`. */
  fileDamage: string[];
  /** The largest creation seq seen, so new sessions sort after restored ones. */
  maxSeq: number;
  /** Sessions restored short of their last commands, which were in a damaged stretch of the tail file. */
  tailLosses?: { id: string; reason: string }[];
}
