/**
 * The database file and its schema: its name and the files beside it, how
 * it is opened (held exclusively, WAL), the tables, and upgrades from older
 * versions. What an open that fails means for the operator is a StoreError.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import Database from 'better-sqlite3';
import type { SyncMode } from './rows.js';

export const DB_FILE = 'spikeserve.db';
/** Suffix of the tail file (tail-file.ts) beside the database, as SQLite's -wal is. */
export const TAIL_SUFFIX = '-tail';
/** The files that make up a database: moved, copied and removed together. */
export const DB_SUFFIXES = ['', '-wal', '-shm', TAIL_SUFFIX] as const;

/**
 * 1: a log row per command. 2: a row may hold several (PACKED_KIND). 3: a
 * snapshot may be held in parts (table parts). Older files are read as they
 * are and upgraded; a version 2 reader would take a snapshot in parts for an
 * empty one, hence the new version.
 */
const SCHEMA_VERSION = 3;

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

/** A read that a damaged file may fail: the fallback then (the damage is found and reported by the full read at start). */
export function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch (e) {
    if (isCorruption(e)) return fallback;
    throw e;
  }
}

/** Bytes in a file, or null if there is none. */
export function fileBytes(path: string): number | null {
  try {
    return statSync(path).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Opens (creating or upgrading) the database at `file`, held in exclusive
 * mode for the life of the process: a second server pointed at the same
 * directory is refused (reason 'locked') instead of interleaving its writes
 * with ours. `then` builds what uses the open handle; if it throws, the
 * handle is closed and the error mapped as the open's own.
 */
export function openDatabase<T>(file: string, sync: SyncMode, then: (db: Database.Database) => T): T {
  // SQLite takes a missing or empty file for a new database, and deletes its
  // WAL: with a WAL or a tail file that holds data, it is a damaged one.
  const dbBytes = fileBytes(file);
  if (!dbBytes) {
    const held = [['-wal', fileBytes(file + '-wal')], [TAIL_SUFFIX, fileBytes(file + TAIL_SUFFIX)]]
      .filter(([, n]) => (n as number) > 0)
      .map(([ext, n]) => `${basename(file)}${ext} holds ${n} bytes`);
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
    migrate(db, file);
    return then(db);
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

/** Creates the tables of a new file, or brings an older one to SCHEMA_VERSION; refuses a newer one. */
function migrate(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new StoreError('newer', `${file} was written by a newer spikeserve (schema ${version}; this one reads ${SCHEMA_VERSION}); run that version, or point DATA_DIR elsewhere`);
  }
  if (version === SCHEMA_VERSION) return;
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
