/**
 * Blobs written in parts (table `parts`, PART_BYTES each): a large snapshot
 * is written a part per transaction, over several turns of the event loop,
 * before the commit that refers to it (a blob of tens of megabytes written
 * in one transaction held the event loop for a large part of a second:
 * docs/benchmarks.md#heavy-requests). Until that
 * commit no snapshot refers to the parts, so a crash halfway leaves only
 * parts that nothing refers to; those, and the parts of a snapshot that a
 * newer one replaced, are garbage, deleted a few at a time.
 */
import { crc32 } from 'node:zlib';
import type Database from 'better-sqlite3';
import type { StoredParts } from './rows.js';
import { readOr } from './schema.js';

/** Bytes of one part of a snapshot written in parts: a few milliseconds of writing each (docs/benchmarks.md#heavy-requests). */
export const PART_BYTES = 256 * 1024;
/** Parts deleted per transaction when collecting those no snapshot refers to any more. */
const GARBAGE_PARTS_PER_STEP = 8;

export class Parts {
  private readonly stmts: {
    insert: Database.Statement;
    read: Database.Statement;
    size: Database.Statement;
    next: Database.Statement;
    deleteSome: Database.Statement;
  };
  /** Id of the next blob written in parts. */
  private nextId: number;
  /** Ids of blobs in parts that no snapshot refers to any more (or never will): to delete. */
  private readonly garbage: number[];

  constructor(db: Database.Database) {
    this.stmts = {
      insert: db.prepare('INSERT INTO parts (blob, idx, data) VALUES (?, ?, ?)'),
      read: db.prepare('SELECT data FROM parts WHERE blob = ? ORDER BY idx').pluck(),
      size: db.prepare('SELECT sum(length(data)) FROM parts WHERE blob = ?').pluck(),
      next: db.prepare('SELECT idx, data FROM parts WHERE blob = ? AND idx > ? ORDER BY idx LIMIT 1'),
      deleteSome: db.prepare('DELETE FROM parts WHERE rowid IN (SELECT rowid FROM parts WHERE blob = ? LIMIT ?)'),
    };
    this.nextId = readOr(() => ((db.prepare('SELECT max(id) FROM (SELECT max(blob) AS id FROM parts UNION ALL SELECT max(parts) FROM snapshots)').pluck().get() as number | null) ?? 0) + 1, 1);
    // Written before a crash, or replaced before a stop: deleted a little at a time once the service runs.
    this.garbage = readOr(() => db.prepare('SELECT DISTINCT blob FROM parts WHERE blob NOT IN (SELECT parts FROM snapshots WHERE parts IS NOT NULL)').pluck().all() as number[], []);
  }

  /**
   * Writes a blob in parts, one transaction each, pausing (yield) after each
   * so that other work runs between them; returns what a snapshot row refers
   * to it by. Nothing refers to the parts until a commit does; if writing
   * fails or stops halfway, they are garbage.
   */
  *write(pieces: Iterable<Buffer>): Generator<void, StoredParts> {
    const id = this.nextId++;
    let idx = 0;
    let bytes = 0;
    let crc = 0;
    let done = false;
    try {
      for (const piece of pieces) {
        this.stmts.insert.run(id, idx++, piece);
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

  /** A blob written in parts, put back together. */
  read(id: number): Buffer {
    return Buffer.concat(this.stmts.read.all(id) as Buffer[]);
  }

  /**
   * As read, a part at a time, pausing (yield) after each: a blob of tens of
   * megabytes read and put together in one go held the event loop for a
   * large part of a second. Its checksum is computed on the way.
   */
  *readPausing(id: number): Generator<void, { data: Buffer; crc: number }> {
    const out = Buffer.allocUnsafe((this.stmts.size.get(id) as number | null) ?? 0);
    let at = 0;
    let crc = 0;
    let idx = -1;
    for (;;) {
      const part = this.stmts.next.get(id, idx) as { idx: number; data: Buffer } | undefined;
      if (!part) break;
      idx = part.idx;
      // The parts cannot change while they are read (nothing writes a blob twice): this is only a guard.
      if (at + part.data.length > out.length) throw new Error(`the parts of blob ${id} changed while they were read`);
      part.data.copy(out, at);
      at += part.data.length;
      crc = crc32(part.data, crc);
      yield;
    }
    return { data: at === out.length ? out : out.subarray(0, at), crc: crc | 0 };
  }

  /** The parts of blob `id` are garbage: nothing refers, or will refer, to them. */
  discard(id: number): void {
    this.garbage.push(id);
  }

  /** Blobs in parts waiting to be deleted. */
  get garbageBlobs(): number {
    return this.garbage.length;
  }

  /**
   * Deletes a few garbage parts (GARBAGE_PARTS_PER_STEP, in one
   * transaction): call again while it returns true. Throws if the deletion
   * fails; the parts stay garbage.
   */
  collectGarbage(): boolean {
    if (this.garbage.length === 0) return false;
    const deleted = this.stmts.deleteSome.run(this.garbage[0], GARBAGE_PARTS_PER_STEP).changes;
    if (deleted < GARBAGE_PARTS_PER_STEP) this.garbage.shift();
    return this.garbage.length > 0;
  }
}
