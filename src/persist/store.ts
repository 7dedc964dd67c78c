/**
 * The SQLite database in DATA_DIR that holds every session: one row per
 * session, its latest snapshot, and an append-only log of the commands that
 * changed it since. Nothing here knows what a session is or how to replay a
 * command: it stores rows, commits batches in one transaction, and reads them
 * back, salvaging what it can from a damaged file.
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
 *
 * A large snapshot is written in parts (table `parts`, PART_BYTES each) over
 * several turns of the event loop, each part its own small transaction,
 * before the commit that refers to it: a 32 MB blob written in one
 * transaction held the event loop for about half a second. Until that
 * commit no snapshot refers to the parts, so a crash halfway leaves only
 * parts that nothing refers to, which are deleted later, as are the parts of
 * a snapshot that a newer one replaced (collectGarbage, a little at a time).
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import Database from 'better-sqlite3';
import { blobChecksum, CodecError, packEntries, recordChecksum, unpackEntries, type LogEntry } from './codec.js';
import { TailFile, type StoredRow } from './tail-file.js';

export const DB_FILE = 'spikeserve.db';
/**
 * 1: a log row per command. 2: a row may hold several (PACKED_KIND). 3: a
 * snapshot may be held in parts (table parts). Older files are read as they
 * are and upgraded; a version 2 reader would take a snapshot in parts for an
 * empty one, hence the new version.
 */
const SCHEMA_VERSION = 3;
/** Bytes of one part of a snapshot written in parts: about 5 ms of writing each, measured (docs/benchmarks.md). */
export const PART_BYTES = 256 * 1024;
/** Parts deleted per transaction when collecting those no snapshot refers to any more. */
const GARBAGE_PARTS_PER_STEP = 8;
/** Suffix of the tail file (tail-file.ts) beside the database, as SQLite's -wal is. */
export const TAIL_SUFFIX = '-tail';
/** The files that make up a database: moved, copied and removed together. */
export const DB_SUFFIXES = ['', '-wal', '-shm', TAIL_SUFFIX] as const;
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

/** Bytes in a file, or null if there is none. */
function fileBytes(path: string): number | null {
  try {
    return statSync(path).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export interface StoreOptions {
  /** See TAIL_LIMIT_BYTES; 0 moves the rows of each commit into the database at the next. */
  tailLimitBytes?: number;
}

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

/** A blob already written in parts (Store.writeParts), which a snapshot row may refer to instead of holding it. */
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

/** What a snapshot row holds in `data` when its blob is in parts. */
const EMPTY_BLOB = Buffer.alloc(0);

const EMPTY_BATCH: Batch = Object.freeze({ creates: [], records: [], snapshots: [], deletes: [], pruneBelow: null }) as unknown as Batch;

export class StoreError extends Error {
  readonly reason: 'locked' | 'unreadable' | 'newer' | 'io';

  constructor(reason: StoreError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.reason = reason;
  }
}

function sqliteCode(e: unknown): string {
  return typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : '';
}

/** Errors that mean the file is damaged (as opposed to busy, full or unwritable). */
export function isCorruption(e: unknown): boolean {
  const c = sqliteCode(e);
  return c.startsWith('SQLITE_CORRUPT') || c === 'SQLITE_NOTADB' || c.startsWith('SQLITE_IOERR_SHORT_READ');
}

const SESSION_COLS = 'key, id, owner, name, seq, created_at AS createdAt, backend';
const SNAPSHOT_COLS = 'session, upto, meta, data, crc, parts';
const RECORD_COLS = 'id, session, seq, kind, payload, crc';

/** Takes a session's snapshot row, its blob put together from its parts if it has them, and checks it. */
function acceptSnapshot(s: LoadedSession, r: Record<string, unknown>, readParts: (id: number) => Buffer): void {
  const snap = r as unknown as SnapshotRow & { crc: number; parts: number | null };
  let data = snap.data;
  if (snap.parts !== null) {
    try {
      data = readParts(snap.parts);
    } catch (e) {
      if (!isCorruption(e)) throw e;
      s.damage ??= `its snapshot's parts cannot be read: ${(e as Error).message}`;
    }
  }
  // Over the whole blob: a part missing or out of place fails it too.
  if (blobChecksum(data) !== snap.crc) s.damage ??= 'its snapshot fails its checksum';
  s.snapshot = { session: snap.session, upto: snap.upto, meta: snap.meta, data };
}

/**
 * Takes a session's next log row, checking its checksum and that no command
 * is missing before it. A row from the tail file has no checksum of its own
 * yet (crc null): its frame's checksum was checked when the file was read.
 */
function acceptRecord(s: LoadedSession, rec: StoredRow): void {
  if (!s.snapshot) return;
  const upto = s.snapshot.upto;
  // A row never holds commands from both sides of a snapshot (a snapshot ends
  // the row being filled), so one that starts at or before it is obsolete.
  if (rec.seq <= upto) return;
  if (rec.crc !== null && recordChecksum(rec.session, rec.seq, rec.kind, rec.payload) !== rec.crc) {
    s.damage ??= `its log record ${rec.seq} fails its checksum`;
    return;
  }
  let entries: LogEntry[];
  if (rec.kind === PACKED_KIND) {
    try {
      entries = unpackEntries(rec.payload as Buffer);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      s.damage ??= `its log records from ${rec.seq} cannot be read: ${e.message}`;
      return;
    }
  } else {
    entries = [{ kind: rec.kind, payload: rec.payload }];
  }
  const expected = upto + s.commands + 1;
  if (rec.seq !== expected) s.damage ??= `its log skips from record ${expected - 1} to ${rec.seq} (records lost)`;
  if (s.firstLiveId === null) s.firstLiveId = rec.id;
  s.records.push({ id: rec.id, session: rec.session, seq: rec.seq, entries });
  s.commands += entries.length;
}

/** A time for file names: damaged copies are named after when they were made. */
export function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
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

function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch (e) {
    if (isCorruption(e)) return fallback;
    throw e;
  }
}

/** The largest number of failed range reads spent salvaging one table before giving up on the rest of it. */
const SALVAGE_BUDGET = 20_000;

export class Store {
  readonly dir: string;
  readonly file: string;
  private db: Database.Database;
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
    insertPart: Database.Statement;
    readParts: Database.Statement;
    deleteParts: Database.Statement;
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
  /** PERSIST_SYNC: with 'full' every commit waits for a disk flush. */
  readonly sync: SyncMode;

  /** Id of the first tail row after a damaged stretch of the file (see TailRead.afterGap); null if none. */
  private gapFromId: number | null = null;
  /** The database's application_id says TAIL_IN_USE (see there). */
  private tailInUse: boolean;
  /** Id of the next blob written in parts. */
  private nextPartsId: number;
  /** Ids of blobs in parts that no snapshot refers to any more (or never will): to delete. */
  private garbage: number[] = [];

  private constructor(dir: string, file: string, db: Database.Database, sync: SyncMode, options: StoreOptions, tailMissing: boolean) {
    this.dir = dir;
    this.file = file;
    this.db = db;
    this.tailLimit = options.tailLimitBytes ?? TAIL_LIMIT_BYTES;
    this.sync = sync;
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
      insertPart: db.prepare('INSERT INTO parts (blob, idx, data) VALUES (?, ?, ?)'),
      readParts: db.prepare('SELECT data FROM parts WHERE blob = ? ORDER BY idx').pluck(),
      deleteParts: db.prepare('DELETE FROM parts WHERE rowid IN (SELECT rowid FROM parts WHERE blob = ? LIMIT ?)'),
    };
    this.nextPartsId = readOr(() => ((db.prepare('SELECT max(id) FROM (SELECT max(blob) AS id FROM parts UNION ALL SELECT max(parts) FROM snapshots)').pluck().get() as number | null) ?? 0) + 1, 1);
    // Written before a crash, or replaced before a stop: deleted a little at a time once the service runs.
    this.garbage = readOr(() => db.prepare('SELECT DISTINCT blob FROM parts WHERE blob NOT IN (SELECT parts FROM snapshots WHERE parts IS NOT NULL)').pluck().all() as number[], []);
    this.tailInUse = readOr(() => db.pragma('application_id', { simple: true }) === TAIL_IN_USE, false);
    const read = TailFile.open(file + TAIL_SUFFIX, sync === 'full', stamp);
    this.tail = read.tail;
    this.tailDamage =
      tailMissing && this.tailInUse
        ? `${file + TAIL_SUFFIX} is missing, and the last run did not stop cleanly: the commands it saved there since its last move into the database (up to ${this.tailLimit} bytes of them) are lost; the sessions are restored without them`
        : read.damage;
    const inDatabase = this.nextId - 1;
    if (read.afterGap < read.rows.length) this.gapFromId = read.rows[read.afterGap].id;
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

  /**
   * Opens (creating if needed) DATA_DIR/spikeserve.db. The database is held
   * in exclusive mode for the life of the process: a second server pointed at
   * the same directory is refused (reason 'locked') instead of interleaving
   * its writes with ours.
   */
  static open(dir: string, sync: SyncMode, fileName = DB_FILE, options: StoreOptions = {}): Store {
    const abs = resolve(dir);
    try {
      mkdirSync(abs, { recursive: true });
    } catch (e) {
      throw new StoreError('io', `cannot create the data directory ${abs}: ${(e as Error).message}`, { cause: e });
    }
    const file = join(abs, fileName);
    // SQLite takes a missing or empty file for a new database, and deletes its
    // WAL: with a WAL or a tail file that holds data, it is a damaged one.
    const dbBytes = fileBytes(file);
    const tailBytes = fileBytes(file + TAIL_SUFFIX);
    if (!dbBytes) {
      const held = [['-wal', fileBytes(file + '-wal')], [TAIL_SUFFIX, tailBytes]].filter(([, n]) => (n as number) > 0).map(([ext, n]) => `${fileName}${ext} holds ${n} bytes`);
      if (held.length > 0) {
        throw new StoreError('unreadable', `${file} is ${dbBytes === null ? 'missing' : 'empty (0 bytes)'} while ${held.join(' and ')}: the database is damaged`);
      }
    }
    let db: Database.Database | null = null;
    try {
      db = new Database(file, { timeout: 2000 });
      // Exclusive before WAL: SQLite then keeps the WAL index in process memory
      // (no -shm file) and holds the lock until close.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
      // Takes the lock now, so a second server fails here and not at its first write.
      db.exec('BEGIN IMMEDIATE; COMMIT');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new StoreError('newer', `${file} was written by a newer spikeserve (schema ${version}; this one reads ${SCHEMA_VERSION}); run that version, or point DATA_DIR elsewhere`);
      }
      if (version < SCHEMA_VERSION) {
        // A file of version 2 or older has its snapshots inline: none refers to parts.
        const hasSnapshots = (db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'").pluck().get() as number) > 0;
        const hasPartsColumn = hasSnapshots && (db.pragma('table_info(snapshots)') as { name: string }[]).some((c) => c.name === 'parts');
        db.exec(`
          BEGIN;
          CREATE TABLE IF NOT EXISTS sessions (
            key INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            owner TEXT,
            name TEXT,
            seq INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            backend TEXT NOT NULL
          );
          CREATE TABLE IF NOT EXISTS snapshots (
            session INTEGER PRIMARY KEY,
            upto INTEGER NOT NULL,
            meta TEXT NOT NULL,
            data BLOB NOT NULL,
            crc INTEGER NOT NULL,
            parts INTEGER
          );
          ${hasSnapshots && !hasPartsColumn ? 'ALTER TABLE snapshots ADD COLUMN parts INTEGER;' : ''}
          CREATE TABLE IF NOT EXISTS parts (
            blob INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (blob, idx)
          );
          CREATE TABLE IF NOT EXISTS log (
            id INTEGER PRIMARY KEY,
            session INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            payload NOT NULL,
            crc INTEGER NOT NULL
          );
          PRAGMA user_version = ${SCHEMA_VERSION};
          COMMIT;
        `);
      }
      return new Store(abs, file, db, sync, options, tailBytes === null);
    } catch (e) {
      try {
        db?.close();
      } catch {
        // already unusable
      }
      if (e instanceof StoreError) throw e;
      const code = sqliteCode(e);
      if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY')) {
        throw new StoreError('locked', `${file} is in use by another process (another spikeserve with the same DATA_DIR?); stop it or give this one its own DATA_DIR`, { cause: e });
      }
      if (isCorruption(e)) throw new StoreError('unreadable', `${file} is not a readable SQLite database: ${(e as Error).message}`, { cause: e });
      throw new StoreError('io', `cannot open ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** A key for a new session; keys are never reused, so a stale log row can never be taken for a new session's. */
  allocateKey(): number {
    return this.nextKey++;
  }

  /** An id for a new log record; ids increase in commit order. */
  allocateRecordId(): number {
    return this.nextId++;
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

  /** Rows waiting in the tail file. */
  get tailRows(): number {
    return this.unspilled.length;
  }

  /** One transaction: the tail's rows, then the batch. */
  private commitAll(batch: Batch): void {
    const replaced: number[] = [];
    try {
      this.commitTx(batch, replaced);
    } catch (e) {
      // Nothing will refer to the parts this batch's snapshots were written in.
      for (const p of batch.snapshots) if (!Buffer.isBuffer(p.data)) this.garbage.push(p.data.id);
      throw e;
    }
    for (const id of replaced) this.garbage.push(id);
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
    const crc = r.crc ?? recordChecksum(r.session, r.seq, r.kind, r.payload);
    this.stmts.insertRecord.run(r.id, r.session, r.seq, r.kind, r.payload, crc);
  }

  /**
   * Reads every session back: its row, its snapshot and its records after the
   * snapshot, each checked (checksums, contiguous sequence numbers). A damaged
   * session is returned with `damage` set; pages SQLite cannot read are skipped
   * and reported in `fileDamage`, and the rest is still returned.
   */
  load(): LoadResult {
    const fileDamage: string[] = [];
    try {
      const rows = this.db.pragma('quick_check(20)', { simple: false }) as { quick_check: string }[];
      const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
      if (problems.length > 0) fileDamage.push(`integrity check: ${problems.join('; ')}`);
    } catch (e) {
      fileDamage.push(`integrity check failed: ${(e as Error).message}`);
    }

    const sessions = new Map<number, LoadedSession>();
    let maxSeq = 0;
    this.salvage('sessions', 'key', SESSION_COLS, fileDamage, (r) => {
      const row = r as unknown as SessionRow;
      sessions.set(row.key, { row, snapshot: null, records: [], commands: 0, damage: null, firstLiveId: null });
      if (row.seq > maxSeq) maxSeq = row.seq;
    });
    this.salvage('snapshots', 'session', SNAPSHOT_COLS, fileDamage, (r) => {
      const s = sessions.get(r.session as number);
      if (s) acceptSnapshot(s, r, this.readParts);
    });
    for (const s of sessions.values()) if (!s.snapshot) s.damage ??= 'its snapshot is missing';
    this.salvage('log', 'id', RECORD_COLS, fileDamage, (r) => {
      const s = sessions.get(r.session as number);
      if (s) acceptRecord(s, r as unknown as StoredRow);
    });
    // After every row of the database: the tail's rows are newer.
    const tailLosses = this.acceptTail(sessions, fileDamage.length === 0);
    return { sessions: [...sessions.values()].sort((a, b) => a.row.seq - b.row.seq), fileDamage, maxSeq, tailLosses };
  }

  /**
   * Takes the tail's rows. After a damaged stretch of the file, a session
   * whose next row is not the one that follows (its row was in the stretch)
   * takes none of its later rows: it is restored as of its last command
   * before the loss, never with later ones applied out of order. Those rows
   * are dropped and, with `settle`, the rest move into the database now, so
   * that the session's new commands never follow stale ones in the file.
   */
  private acceptTail(sessions: Map<number, LoadedSession>, settle: boolean): { id: string; reason: string }[] {
    const gap = this.gapFromId;
    const losses: { id: string; reason: string }[] = [];
    const cut = new Set<number>();
    const dropped = new Set<StoredRow>();
    for (const r of this.unspilled) {
      const s = sessions.get(r.session);
      if (!s) continue;
      if (gap !== null && r.id >= gap && s.snapshot && r.seq > s.snapshot.upto) {
        const expected = s.snapshot.upto + s.commands + 1;
        if (cut.has(r.session) || r.seq !== expected) {
          if (!cut.has(r.session)) {
            cut.add(r.session);
            losses.push({ id: s.row.id, reason: `its commands from ${expected} on were in a damaged stretch of the tail file: restored as of command ${expected - 1}, its later ones (from ${r.seq}) not applied` });
          }
          dropped.add(r);
          continue;
        }
      }
      acceptRecord(s, r);
    }
    if (gap !== null && settle) {
      this.unspilled = this.unspilled.filter((r) => !dropped.has(r));
      this.unspilledBytes = 0;
      for (const r of this.unspilled) this.unspilledBytes += storedBytes(r);
      this.commitAll(EMPTY_BATCH);
      // With no row left to move, commitAll leaves the file as it is: the damaged stretch must go too.
      if (this.tail.bytes > 0) this.tail.clear();
      this.gapFromId = null;
    }
    return losses;
  }

  /**
   * Reads a table in key order. If SQLite reports a damaged page, starts over
   * reading key ranges, halving the ones that fail, so the rows on readable
   * pages are still returned; what could not be read is reported.
   */
  private salvage(table: string, key: string, cols: string, damage: string[], onRow: (r: Record<string, unknown>) => void): void {
    try {
      const seen: Record<string, unknown>[] = [];
      for (const r of this.db.prepare(`SELECT ${cols} FROM ${table} ORDER BY ${key}`).iterate()) seen.push(r as Record<string, unknown>);
      for (const r of seen) onRow(r);
      return;
    } catch (e) {
      if (!isCorruption(e)) throw e;
      damage.push(`table ${table}: ${(e as Error).message}`);
    }
    const range = this.db.prepare(`SELECT ${cols} FROM ${table} WHERE ${key} BETWEEN ? AND ? ORDER BY ${key}`);
    let budget = SALVAGE_BUDGET;
    let lostRanges = 0;
    let hi = Number.MAX_SAFE_INTEGER;
    try {
      hi = (this.db.prepare(`SELECT max(${key}) FROM ${table}`).pluck().get() as number | null) ?? 0;
    } catch {
      // the rightmost pages are damaged too: search the whole key space
    }
    const stack: [number, number][] = [[0, hi]];
    const rows: Record<string, unknown>[] = [];
    while (stack.length > 0) {
      const [lo, h] = stack.pop()!;
      try {
        for (const r of range.iterate(lo, h)) rows.push(r as Record<string, unknown>);
      } catch (e) {
        if (!isCorruption(e)) throw e;
        // Rows read before the error are kept only if the halves succeed; drop this range's partial rows.
        while (rows.length > 0 && (rows[rows.length - 1][key] as number) >= lo) rows.pop();
        if (h <= lo || --budget <= 0) {
          lostRanges++;
          continue;
        }
        const mid = lo + Math.floor((h - lo) / 2);
        // Pushed high half first so the low half is read first and rows stay in key order.
        stack.push([mid + 1, h], [lo, mid]);
      }
    }
    if (lostRanges > 0) damage.push(`table ${table}: ${lostRanges} key range(s) unreadable; the rows there are lost`);
    for (const r of rows) onRow(r);
  }

  /**
   * One session read back (after a failed commit, or when it is loaded on
   * demand); null if it is not in the database. `fromId`: no record of the
   * session before this log id is needed (its first live one), so the scan
   * starts there.
   */
  loadOne(key: number, fromId = 0): LoadedSession | null {
    const row = this.db.prepare(`SELECT ${SESSION_COLS} FROM sessions WHERE key = ?`).get(key) as SessionRow | undefined;
    if (!row) return null;
    const s: LoadedSession = { row, snapshot: null, records: [], commands: 0, damage: null, firstLiveId: null };
    const snap = this.db.prepare(`SELECT ${SNAPSHOT_COLS} FROM snapshots WHERE session = ?`).get(key) as Record<string, unknown> | undefined;
    if (snap) acceptSnapshot(s, snap, this.readParts);
    else s.damage = 'its snapshot is missing';
    // No index on the log's session column (see the top of this file): the rows from fromId on are scanned.
    for (const r of this.db.prepare(`SELECT ${RECORD_COLS} FROM log WHERE id >= ? AND session = ? ORDER BY id`).iterate(fromId, key)) acceptRecord(s, r as StoredRow);
    for (const r of this.unspilled) if (r.session === key && r.id >= fromId) acceptRecord(s, r);
    return s;
  }

  /** A blob written in parts, put back together. */
  private readonly readParts = (id: number): Buffer => Buffer.concat(this.stmts.readParts.all(id) as Buffer[]);

  /**
   * Writes a blob in parts, one transaction each, pausing (yield) after each
   * so that other work runs between them; returns what a snapshot row refers
   * to it by. Nothing refers to the parts until a commit does; if writing
   * fails or stops halfway, they are collected as garbage.
   */
  *writeParts(pieces: Iterable<Buffer>): Generator<void, StoredParts> {
    const id = this.nextPartsId++;
    let idx = 0;
    let bytes = 0;
    let crc = 0;
    let done = false;
    try {
      for (const piece of pieces) {
        this.stmts.insertPart.run(id, idx++, piece);
        bytes += piece.length;
        crc = crc32(piece, crc);
        yield;
      }
      done = true;
      return { id, bytes, crc: crc | 0 };
    } finally {
      if (!done) this.garbage.push(id);
    }
  }

  /** Parts that will not be committed after all (the snapshot they hold was dropped): garbage. */
  discardParts(parts: StoredParts): void {
    this.garbage.push(parts.id);
  }

  /** Blobs in parts waiting to be deleted. */
  get garbageBlobs(): number {
    return this.garbage.length;
  }

  /**
   * Deletes a few parts that no snapshot refers to (GARBAGE_PARTS_PER_STEP,
   * in one transaction): call again while it returns true. Throws if the
   * deletion fails; the parts stay garbage.
   */
  collectGarbage(): boolean {
    if (this.garbage.length === 0) return false;
    const id = this.garbage[0];
    const deleted = this.stmts.deleteParts.run(id, GARBAGE_PARTS_PER_STEP).changes;
    if (deleted < GARBAGE_PARTS_PER_STEP) this.garbage.shift();
    return this.garbage.length > 0;
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

  /** Id the next log record will get. */
  get nextRecordId(): number {
    return this.nextId;
  }

  /**
   * Moves the tail's rows into the database, checkpoints the WAL into the
   * database file and closes both. `spill: false` leaves the rows in the tail
   * file (a damaged database about to be moved aside with it). If moving
   * fails the rows stay in the tail file, which the next open reads, and the
   * error is thrown after closing.
   */
  close(options: { spill?: boolean } = {}): void {
    if (!this.db.open) return;
    let failure: unknown = null;
    try {
      if (options.spill !== false) {
        this.spill();
        if (this.tailInUse) this.markTail(false);
      }
    } catch (e) {
      failure = e;
    }
    try {
      if (options.spill !== false) this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
      this.tail.close();
    }
    if (failure) throw failure;
  }

  get open(): boolean {
    return this.db.open;
  }

  /** A consistent copy of the database (for keeping damaged sessions' data before they are dropped). */
  backupTo(path: string): void {
    this.spill();
    this.db.prepare('VACUUM INTO ?').run(path);
  }

  /** For tests and the disk-full path: the underlying handle. */
  get handle(): Database.Database {
    return this.db;
  }
}

/**
 * Moves an unreadable database (and its WAL) aside so that the service can
 * start on a fresh one; the file is kept for inspection or recovery by hand.
 * Returns where it went.
 */
export function moveAside(dir: string, suffix: string): string {
  const file = join(resolve(dir), DB_FILE);
  const target = `${file}.${suffix}`;
  for (const ext of DB_SUFFIXES) {
    if (existsSync(file + ext)) renameSync(file + ext, target + ext);
  }
  return target;
}

/** A copy of the database's files as they are (when SQLite cannot make one); returns the copy's path. */
export function copyAside(dir: string, suffix: string): string {
  const file = join(resolve(dir), DB_FILE);
  const target = `${file}.${suffix}`;
  for (const ext of ['', '-wal', TAIL_SUFFIX]) {
    if (existsSync(file + ext)) copyFileSync(file + ext, target + ext);
  }
  return target;
}
