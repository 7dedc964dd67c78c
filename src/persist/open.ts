/**
 * Opening DATA_DIR at start, whatever state the last run left it in. A
 * database SQLite cannot read at all, or one with damaged pages, is moved
 * aside (kept for inspection, never deleted) and the service starts on a
 * fresh one holding every session that could still be read in full. What was
 * found is returned for the start-up log.
 */
import { closeSync, fstatSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LoadResult, SyncMode } from './rows.js';
import { copyAside, moveAside, stamp } from './salvage.js';
import { DB_FILE, DB_SUFFIXES, StoreError } from './schema.js';
import { Store } from './store.js';

export interface OpenReport {
  store: Store;
  /** What was wrong with the file, if anything. */
  fileDamage: string[];
  /** Sessions that were in the damaged file but could not be read in full. */
  lost: { id: string; reason: string }[];
  /** Where the damaged file now is. */
  movedTo: string | null;
  /** Everything read from the database, for the restore (so it is read once). */
  loaded: LoadResult;
  /** What was wrong with the end of the tail file (tail-file.ts), if anything: it does not make the database damaged. */
  tailDamage: string | null;
}

/** Throws StoreError for what the operator must fix (directory in use, newer schema, no permission). */
export function openDataDir(dir: string, sync: SyncMode): OpenReport {
  let store: Store;
  try {
    store = Store.open(dir, sync);
  } catch (e) {
    if (!(e instanceof StoreError) || e.reason !== 'unreadable') throw e;
    const salvaged = salvageCopy(dir, sync);
    const movedTo = moveAside(dir, `damaged-${stamp()}`);
    const fresh = Store.open(dir, sync);
    const fileDamage = [e.message, ...(salvaged?.fileDamage ?? ['nothing could be read from it'])];
    if (!salvaged) return { store: fresh, fileDamage, lost: [], movedTo, loaded: { sessions: [], fileDamage: [], maxSeq: 0 }, tailDamage: null };
    const whole = salvaged.sessions.filter((s) => s.damage === null);
    fresh.importSessions(whole);
    const lost = salvaged.sessions.filter((s) => s.damage !== null).map((s) => ({ id: s.row.id, reason: s.damage! }));
    return { store: fresh, fileDamage, lost, movedTo, loaded: { sessions: whole, fileDamage: [], maxSeq: salvaged.maxSeq }, tailDamage: salvaged.tailDamage };
  }
  // Pages SQLite cannot read show up in this first read of everything.
  const loaded = store.load();
  if (loaded.fileDamage.length === 0) return { store, fileDamage: [], lost: [], movedTo: null, loaded, tailDamage: store.tailDamage };
  // Its tail rows are in `loaded` and go to the fresh database with the rest; the damaged file is not written to.
  store.close({ spill: false });
  const movedTo = moveAside(dir, `damaged-${stamp()}`);
  const fresh = Store.open(dir, sync);
  const whole = loaded.sessions.filter((s) => s.damage === null);
  fresh.importSessions(whole);
  const lost = loaded.sessions.filter((s) => s.damage !== null).map((s) => ({ id: s.row.id, reason: s.damage! }));
  return { store: fresh, fileDamage: loaded.fileDamage, lost, movedTo, loaded: { sessions: whole, fileDamage: [], maxSeq: loaded.maxSeq, tailLosses: loaded.tailLosses }, tailDamage: store.tailDamage };
}

/**
 * Reads what it can from a database SQLite refuses to open, on a copy (the
 * original is never written to). The usual cause is a file cut short, whose
 * header still counts the lost pages: the copy's header is set to the pages
 * the file really has, and the pages that remain are read. Null if nothing
 * can be read (the file is not a database at all).
 */
function salvageCopy(dir: string, sync: SyncMode): (LoadResult & { tailDamage: string | null }) | null {
  const name = `${DB_FILE}.salvage`;
  const copy = join(resolve(dir), name);
  const cleanup = () => {
    for (const ext of DB_SUFFIXES) rmSync(copy + ext, { force: true });
  };
  cleanup();
  try {
    copyAside(dir, 'salvage');
    fixPageCount(copy);
    const store = Store.open(dir, sync, { fileName: name });
    try {
      return { ...store.load(), tailDamage: store.tailDamage };
    } finally {
      store.close({ spill: false });
    }
  } catch {
    return null;
  } finally {
    cleanup();
  }
}

/** Sets the header's page count (offset 28) to the pages the file holds, if it claims more. */
function fixPageCount(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    const h = Buffer.alloc(100);
    if (readSync(fd, h, 0, 100, 0) < 100 || h.toString('latin1', 0, 15) !== 'SQLite format 3') return;
    const raw = h.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    const pages = Math.floor(fstatSync(fd).size / pageSize);
    if (h.readUInt32BE(28) > pages) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(pages);
      writeSync(fd, b, 0, 4, 28);
    }
  } finally {
    closeSync(fd);
  }
}
