/**
 * The SQLite database in DATA_DIR that holds every session: one row per
 * session, its latest snapshot, and an append-only log of the commands that
 * changed it since. Nothing here knows what a session is or how to replay a
 * command: it stores rows, commits batches in one transaction, and reads them
 * back, salvaging what it can from a damaged file.
 *
 * The jobs are in files of their own, held together here: the file, its
 * schema and upgrades (schema.ts), writing with the tail file in front
 * (writer.ts), large snapshots in parts (parts.ts), reading back with every
 * check (reader.ts), and salvage of a damaged file (salvage.ts).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { Parts } from './parts.js';
import { Reader } from './reader.js';
import type { Batch, LoadedSession, LoadResult, StoredParts, SyncMode } from './rows.js';
import { stamp } from './salvage.js';
import { DB_FILE, fileBytes, openDatabase, StoreError, TAIL_SUFFIX } from './schema.js';
import { Writer, type WriterOptions } from './writer.js';

export type StoreOptions = WriterOptions;

/** What Store.open takes beside the directory and PERSIST_SYNC. */
export interface StoreOpenOptions extends StoreOptions {
  /** The database's name in the directory. */
  fileName?: string;
}

/** What a store is made of once its file is open. */
interface StoreParts extends StoreOptions {
  dir: string;
  file: string;
  db: Database.Database;
  sync: SyncMode;
  /** The tail file did not exist before this open. */
  tailMissing: boolean;
}

export class Store {
  readonly dir: string;
  readonly file: string;
  /** PERSIST_SYNC: with 'full' every commit waits for a disk flush. */
  readonly sync: SyncMode;
  private readonly db: Database.Database;
  private readonly parts: Parts;
  private readonly writer: Writer;
  private readonly reader: Reader;

  private constructor(o: StoreParts) {
    const { dir, file, db, sync, tailMissing, ...options } = o;
    this.dir = dir;
    this.file = file;
    this.db = db;
    this.sync = sync;
    this.parts = new Parts(db);
    this.writer = new Writer({ ...options, db, file, sync, parts: this.parts, tailMissing, stamp });
    this.reader = new Reader(db, this.parts);
  }

  /**
   * Opens (creating if needed) DATA_DIR/spikeserve.db, held in exclusive mode
   * for the life of the process (see schema.ts).
   */
  static open(dir: string, sync: SyncMode, openOptions: StoreOpenOptions = {}): Store {
    const { fileName = DB_FILE, ...options } = openOptions;
    const abs = resolve(dir);
    try {
      mkdirSync(abs, { recursive: true });
    } catch (e) {
      throw new StoreError('io', `cannot create the data directory ${abs}: ${(e as Error).message}`, { cause: e });
    }
    const file = join(abs, fileName);
    const tailMissing = fileBytes(file + TAIL_SUFFIX) === null;
    return openDatabase(file, sync, (db) => new Store({ ...options, dir: abs, file, db, sync, tailMissing }));
  }

  /** What was wrong with the tail file at open, if anything (see TailFile.open). */
  get tailDamage(): string | null {
    return this.writer.tailDamage;
  }

  /** A key for a new session; keys are never reused, so a stale log row can never be taken for a new session's. */
  allocateKey(): number {
    return this.writer.allocateKey();
  }

  /** An id for a new log record; ids increase in commit order. */
  allocateRecordId(): number {
    return this.writer.allocateRecordId();
  }

  /** Id the next log record will get. */
  get nextRecordId(): number {
    return this.writer.nextRecordId;
  }

  /** Writes a batch: all of it is durable when this returns, or none of it (it throws). */
  commit(batch: Batch): void {
    this.writer.commit(batch);
  }

  /** Moves the tail file's rows into the database. */
  spill(): void {
    this.writer.spill();
  }

  /** Rows waiting in the tail file. */
  get tailRows(): number {
    return this.writer.tailRows.length;
  }

  /**
   * Reads every session back, checked (reader.ts). After a damaged stretch
   * of the tail file, the rows that still apply move into the database now
   * (unless the database itself is damaged: it is about to be replaced).
   */
  load(): LoadResult {
    const gap = this.writer.gapFromId;
    const { result, dropped } = this.reader.load({ rows: this.writer.tailRows, gapFromId: gap });
    if (gap !== null && result.fileDamage.length === 0) this.writer.settleGap(dropped);
    return result;
  }

  /** One session read back (after a failed commit, or when it is loaded on demand); null if it is not in the database. See Reader.loadOne. */
  loadOne(key: number, fromId = 0): LoadedSession | null {
    return this.reader.loadOne(key, fromId, () => this.writer.tailRows);
  }

  /** Whether the session is in the database (its row only; nothing else is read). */
  has(key: number): boolean {
    return this.reader.has(key);
  }

  /** As loadOne, pausing (yield) after each part of its snapshot: see Reader.loadOnePausing. */
  loadOnePausing(key: number, fromId = 0): Generator<void, LoadedSession | null> {
    return this.reader.loadOnePausing(key, fromId, () => this.writer.tailRows);
  }

  /** Writes a blob in parts, pausing (yield) after each: see Parts.write. */
  writeParts(pieces: Iterable<Buffer>): Generator<void, StoredParts> {
    return this.parts.write(pieces);
  }

  /** Parts that will not be committed after all (the snapshot they hold was dropped): garbage. */
  discardParts(parts: StoredParts): void {
    this.parts.discard(parts.id);
  }

  /** Blobs in parts waiting to be deleted. */
  get garbageBlobs(): number {
    return this.parts.garbageBlobs;
  }

  /** Deletes a few garbage parts: call again while it returns true. See Parts.collectGarbage. */
  collectGarbage(): boolean {
    return this.parts.collectGarbage();
  }

  /** Writes sessions read from another (damaged) database, keys and record ids unchanged, in one transaction. */
  importSessions(sessions: LoadedSession[]): void {
    this.writer.importSessions(sessions);
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
      if (options.spill !== false) this.writer.spillForStop();
    } catch (e) {
      failure = e;
    }
    try {
      if (options.spill !== false) this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
      this.writer.closeTail();
    }
    if (failure) throw failure;
  }

  get open(): boolean {
    return this.db.open;
  }

  /** A consistent copy of the database (for keeping damaged sessions' data before they are dropped). */
  backupTo(path: string): void {
    this.writer.spill();
    this.db.prepare('VACUUM INTO ?').run(path);
  }

  /** For tests and the disk-full path: the underlying handle. */
  get handle(): Database.Database {
    return this.db;
  }
}
