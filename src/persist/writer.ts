/**
 * Writing to the database, with the tail file (tail-file.ts) in front of it:
 * a commit of log rows alone (every step and reward) is one write to the
 * tail file; any other commit is one transaction, which first moves the
 * tail's rows into the database (spill). Keys and log ids are handed out
 * here, in commit order.
 *
 * Why the log is one append-only table with no index on the session: every
 * commit then appends to the end of one b-tree (a page or two written per
 * commit, whatever the number of sessions in it), where a per-session key
 * would dirty a page per session. Records are only read back at start, in
 * one scan. Records that a newer snapshot makes obsolete are pruned from the
 * front of the table (see Journal), so the scan stays bounded.
 *
 * A row holds one command, or several consecutive ones of one session
 * written in the same commit (kind PACKED_KIND, see codec.ts): pipelined
 * requests then cost one insert per commit, not one each.
 */
import type Database from 'better-sqlite3';
import { blobChecksum, packEntries, recordChecksum } from './codec.js';
import type { Parts } from './parts.js';
import { PACKED_KIND, type Batch, type LoadedSession, type LogRow, type SyncMode } from './rows.js';
import { readOr, TAIL_SUFFIX } from './schema.js';
import { TailFile, type StoredRow } from './tail-file.js';

/**
 * Bytes of rows the tail file may hold before they are moved into the
 * database. Moving is cheap per row in one transaction, so the bound only
 * sets how long that pause is and how much a start re-reads.
 */
const TAIL_LIMIT_BYTES = 1024 * 1024;

/**
 * The database's application_id while its tail file may hold rows not yet
 * in the database: set by the first commit to the tail file, cleared once a
 * stop has moved them. A missing tail file is lost commands only then.
 */
const TAIL_IN_USE = 0x73707431;

/** What a snapshot row holds in `data` when its blob is in parts. */
const EMPTY_BLOB = Buffer.alloc(0);

const EMPTY_BATCH: Batch = Object.freeze({ creates: [], records: [], snapshots: [], deletes: [], pruneBelow: null }) as unknown as Batch;

export interface WriterOptions {
  /** See TAIL_LIMIT_BYTES; 0 moves the rows of each commit into the database at the next. */
  tailLimitBytes?: number;
}

/** What a writer works on: the open database `db` of `file`, and the tail file beside it. */
export interface WriterSetup extends WriterOptions {
  db: Database.Database;
  file: string;
  sync: SyncMode;
  parts: Parts;
  /** The tail file did not exist before this open. */
  tailMissing: boolean;
  /** Names the copy of a damaged tail file. */
  stamp: () => string;
}

function toStored(r: LogRow): StoredRow {
  const one = r.entries.length === 1 ? r.entries[0] : null;
  const kind = one ? one.kind : PACKED_KIND;
  const payload = one ? one.payload : packEntries(r.entries);
  return { id: r.id, session: r.session, seq: r.seq, kind, payload, crc: null };
}

/** Roughly what a row holds in memory and in the tail file: what TAIL_LIMIT_BYTES counts. */
function storedBytes(r: StoredRow): number {
  return 32 + r.payload.length;
}

export class Writer {
  private readonly db: Database.Database;
  private readonly parts: Parts;
  private nextKey: number;
  private nextId: number;
  private readonly stmts: {
    insertSession: Database.Statement;
    insertRecord: Database.Statement;
    upsertSnapshot: Database.Statement;
    deleteSession: Database.Statement;
    deleteSnapshot: Database.Statement;
    prune: Database.Statement;
    partsOf: Database.Statement;
  };
  /** Writes a batch in one transaction; the ids of the blobs in parts its snapshots replace or delete go into `replaced`. */
  private readonly commitTx: (batch: Batch, replaced: number[]) => void;
  private readonly tail: TailFile;
  private readonly tailLimit: number;
  /** Rows committed to the tail file and not yet in the database, in id order. */
  private unspilled: StoredRow[] = [];
  private unspilledBytes = 0;
  /** What was wrong with the tail file at open, if anything (see TailFile.open). */
  readonly tailDamage: string | null;
  /** Id of the first tail row after a damaged stretch of the file (see TailRead.afterGap); null if none. */
  private gapFrom: number | null = null;
  /** The database's application_id says TAIL_IN_USE (see there). */
  private tailInUse: boolean;

  /** Opens the tail file beside `file` and reads it back. */
  constructor(setup: WriterSetup) {
    const { db, file, sync, parts, tailMissing, stamp } = setup;
    this.db = db;
    this.parts = parts;
    this.tailLimit = setup.tailLimitBytes ?? TAIL_LIMIT_BYTES;
    // A damaged file may fail these reads; load() then finds and reports the
    // damage, and the file is replaced before anything is written to it.
    this.nextKey = readOr(() => ((db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'sessions'").pluck().get() as number | undefined) ?? 0) + 1, 1);
    this.nextId = readOr(() => ((db.prepare('SELECT max(id) FROM log').pluck().get() as number | null) ?? 0) + 1, 1);
    this.stmts = {
      insertSession: db.prepare('INSERT INTO sessions (key, id, owner, name, seq, created_at, backend) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertRecord: db.prepare('INSERT INTO log (id, session, seq, kind, payload, crc) VALUES (?, ?, ?, ?, ?, ?)'),
      upsertSnapshot: db.prepare(
        'INSERT INTO snapshots (session, upto, meta, data, crc, parts) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session) DO UPDATE SET upto = excluded.upto, meta = excluded.meta, data = excluded.data, crc = excluded.crc, parts = excluded.parts',
      ),
      deleteSession: db.prepare('DELETE FROM sessions WHERE key = ?'),
      deleteSnapshot: db.prepare('DELETE FROM snapshots WHERE session = ?'),
      prune: db.prepare('DELETE FROM log WHERE id < ?'),
      partsOf: db.prepare('SELECT parts FROM snapshots WHERE session = ?').pluck(),
    };
    this.tailInUse = readOr(() => db.pragma('application_id', { simple: true }) === TAIL_IN_USE, false);
    const read = TailFile.open(file + TAIL_SUFFIX, sync === 'full', stamp);
    this.tail = read.tail;
    this.tailDamage =
      tailMissing && this.tailInUse
        ? `${file + TAIL_SUFFIX} is missing, and the last run did not stop cleanly: the commands it saved there since its last move into the database (up to ${this.tailLimit} bytes of them) are lost; the sessions are restored without them`
        : read.damage;
    const inDatabase = this.nextId - 1;
    if (read.afterGap < read.rows.length) this.gapFrom = read.rows[read.afterGap].id;
    for (const r of read.rows) {
      // Moved into the database by a run that stopped before it emptied the file.
      if (r.id <= inDatabase) continue;
      this.unspilled.push(r);
      this.unspilledBytes += storedBytes(r);
      if (r.id >= this.nextId) this.nextId = r.id + 1;
    }
    this.commitTx = db.transaction((b: Batch, replaced: number[]) => {
      const s = this.stmts;
      // The tail's rows first: ids stay in commit order, and a prune in this batch sees them.
      if (this.unspilled.length > 0) this.moveTail(b);
      for (const c of b.creates) s.insertSession.run(c.key, c.id, c.owner, c.name, c.seq, c.createdAt, c.backend);
      for (const r of b.records) this.insertStored(toStored(r));
      for (const p of b.snapshots) {
        const old = s.partsOf.get(p.session) as number | null | undefined;
        if (old !== null && old !== undefined) replaced.push(old);
        if (Buffer.isBuffer(p.data)) s.upsertSnapshot.run(p.session, p.upto, p.meta, p.data, blobChecksum(p.data), null);
        else s.upsertSnapshot.run(p.session, p.upto, p.meta, EMPTY_BLOB, p.data.crc, p.data.id);
      }
      for (const k of b.deletes) {
        const old = s.partsOf.get(k) as number | null | undefined;
        if (old !== null && old !== undefined) replaced.push(old);
        s.deleteSnapshot.run(k);
        s.deleteSession.run(k);
      }
      if (b.pruneBelow !== null) s.prune.run(b.pruneBelow);
    });
  }

  /** A key for a new session; keys are never reused, so a stale log row can never be taken for a new session's. */
  allocateKey(): number {
    return this.nextKey++;
  }

  /** An id for a new log record; ids increase in commit order. */
  allocateRecordId(): number {
    return this.nextId++;
  }

  /** Id the next log record will get. */
  get nextRecordId(): number {
    return this.nextId;
  }

  /** Writes a batch: all of it is durable when this returns, or none of it (it throws). */
  commit(batch: Batch): void {
    // Log rows and nothing else (every step and reward): one write to the tail file.
    if (batch.creates.length === 0 && batch.snapshots.length === 0 && batch.deletes.length === 0 && batch.pruneBelow === null) {
      if (batch.records.length === 0) return;
      // Before, not after: if moving fails, this batch is refused whole.
      if (this.unspilledBytes >= this.tailLimit) this.spill();
      if (!this.tailInUse) this.markTail(true);
      const rows = batch.records.map(toStored);
      this.tail.append(rows);
      for (const r of rows) {
        this.unspilled.push(r);
        this.unspilledBytes += storedBytes(r);
      }
      return;
    }
    this.commitAll(batch);
  }

  /** Records in the database whether its tail file may hold rows not yet moved (TAIL_IN_USE). */
  private markTail(inUse: boolean): void {
    this.db.pragma(`application_id = ${inUse ? TAIL_IN_USE : 0}`);
    this.tailInUse = inUse;
  }

  /** Moves the tail file's rows into the database. */
  spill(): void {
    if (this.unspilled.length > 0) this.commitAll(EMPTY_BATCH);
  }

  /** Moves the tail's rows into the database and marks the tail file as holding none not moved (a clean stop). */
  spillForStop(): void {
    this.spill();
    if (this.tailInUse) this.markTail(false);
  }

  /** Rows committed to the tail file and not yet in the database, in id order. */
  get tailRows(): readonly StoredRow[] {
    return this.unspilled;
  }

  /** Id of the first tail row after a damaged stretch of the tail file; null if none. */
  get gapFromId(): number | null {
    return this.gapFrom;
  }

  /**
   * After a damaged stretch of the tail file: the rows `dropped` (a session
   * lost a row before them) are dropped, the rest moved into the database,
   * and the file emptied, so that a session's new commands never follow
   * stale ones in the file.
   */
  settleGap(dropped: ReadonlySet<StoredRow>): void {
    this.unspilled = this.unspilled.filter((r) => !dropped.has(r));
    this.unspilledBytes = 0;
    for (const r of this.unspilled) this.unspilledBytes += storedBytes(r);
    this.commitAll(EMPTY_BATCH);
    // With no row left to move, commitAll leaves the file as it is: the damaged stretch must go too.
    if (this.tail.bytes > 0) this.tail.clear();
    this.gapFrom = null;
  }

  /** Writes sessions read from another (damaged) database, keys and record ids unchanged, in one transaction. */
  importSessions(sessions: LoadedSession[]): void {
    const batch: Batch = { creates: [], records: [], snapshots: [], deletes: [], pruneBelow: null };
    for (const l of sessions) {
      batch.creates.push(l.row);
      if (l.snapshot) batch.snapshots.push(l.snapshot);
      batch.records.push(...l.records);
      this.nextKey = Math.max(this.nextKey, l.row.key + 1);
      for (const r of l.records) this.nextId = Math.max(this.nextId, r.id + 1);
    }
    this.commitAll(batch);
  }

  /** One transaction: the tail's rows, then the batch. */
  private commitAll(batch: Batch): void {
    const replaced: number[] = [];
    try {
      this.commitTx(batch, replaced);
    } catch (e) {
      // Nothing will refer to the parts this batch's snapshots were written in.
      for (const p of batch.snapshots) if (!Buffer.isBuffer(p.data)) this.parts.discard(p.data.id);
      throw e;
    }
    for (const id of replaced) this.parts.discard(id);
    if (this.unspilled.length === 0) return;
    this.unspilled = [];
    this.unspilledBytes = 0;
    try {
      this.tail.clear();
    } catch {
      // The rows stay in the file too; the next open skips them (their ids are in the database).
    }
  }

  /**
   * Inserts the tail's rows, except those this batch makes obsolete: a
   * session's rows up to a snapshot of it in the batch (compaction), and a
   * deleted session's. A compaction writes its snapshot every
   * PERSIST_COMPACT_STEPS steps and finds most of its session's rows still in
   * the tail: inserting them only for the next prune to delete them was a
   * lone client's largest cost per step after the write itself.
   */
  private moveTail(b: Batch): void {
    let obsolete: Map<number, number> | null = null;
    if (b.snapshots.length > 0 || b.deletes.length > 0) {
      obsolete = new Map();
      for (const p of b.snapshots) obsolete.set(p.session, p.upto);
      for (const k of b.deletes) obsolete.set(k, Number.MAX_SAFE_INTEGER);
    }
    for (const r of this.unspilled) {
      // A row never holds commands from both sides of a snapshot (SessionLog.snapshot ends it).
      const upto = obsolete?.get(r.session);
      if (upto !== undefined && r.seq <= upto) continue;
      this.insertStored(r);
    }
  }

  /** A row into the log table, with the checksum the database keeps (computed here for a row from the tail file). */
  private insertStored(r: StoredRow): void {
    const crc = r.crc ?? recordChecksum(r);
    this.stmts.insertRecord.run(r.id, r.session, r.seq, r.kind, r.payload, crc);
  }

  /** Closes the tail file (the database is closed by its owner). */
  closeTail(): void {
    this.tail.close();
  }
}
