/**
 * Salvage: what can still be read from a damaged database, and keeping the
 * damaged files aside (never deleted) for inspection or recovery by hand.
 */
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { DB_FILE, DB_SUFFIXES, isCorruption, TAIL_SUFFIX } from './schema.js';

/** The largest number of failed range reads spent salvaging one table before giving up on the rest of it. */
const SALVAGE_BUDGET = 20_000;

/** A time for file names: damaged copies are named after when they were made. */
export function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

/**
 * Reads a table in key order. If SQLite reports a damaged page, starts over
 * reading key ranges, halving the ones that fail, so the rows on readable
 * pages are still returned; what could not be read is reported.
 */
export function salvageTable(db: Database.Database, table: string, key: string, cols: string, damage: string[], onRow: (r: Record<string, unknown>) => void): void {
  try {
    const seen: Record<string, unknown>[] = [];
    for (const r of db.prepare(`SELECT ${cols} FROM ${table} ORDER BY ${key}`).iterate()) seen.push(r as Record<string, unknown>);
    for (const r of seen) onRow(r);
    return;
  } catch (e) {
    if (!isCorruption(e)) throw e;
    damage.push(`table ${table}: ${(e as Error).message}`);
  }
  const range = db.prepare(`SELECT ${cols} FROM ${table} WHERE ${key} BETWEEN ? AND ? ORDER BY ${key}`);
  let budget = SALVAGE_BUDGET;
  let lostRanges = 0;
  let hi = Number.MAX_SAFE_INTEGER;
  try {
    hi = (db.prepare(`SELECT max(${key}) FROM ${table}`).pluck().get() as number | null) ?? 0;
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
