/**
 * The newest end of the log, in a plain file beside the database
 * (spikeserve.db-tail). A commit of log rows alone, the commit of every step
 * and reward, is one write to this file: the reply may go once that write
 * returns, since a process killed after it leaves the bytes with the
 * operating system (and PERSIST_SYNC=full flushes them to the disk first).
 * The Store moves the rows into the database in bulk later, in one
 * transaction, and empties the file.
 *
 * Why: an SQLite commit of one row costs a b-tree insert and a WAL page
 * (1 KiB and two writes), several times one write of the row's bytes. For
 * one client in strict request-reply, who cannot share a commit with anyone,
 * that was half of the service's round trip (docs/durability.md).
 *
 * Layout: frames of u32 LE body length, i32 LE CRC-32 of the body, body.
 * A body is one commit's rows, each: u48 LE id, u32 LE session, u48 LE seq,
 * u8 kind, u8 payload type (0: UTF-8 text, 1: bytes), u32 LE payload
 * length, payload. The frame's checksum covers its rows; the checksum the
 * database keeps per row is computed when the row moves there, or never if
 * a snapshot makes it obsolete first (most rows of a busy session).
 * A frame is written with one write at the end of the file: a crash leaves
 * whole frames and at most one cut short at the end, which was never
 * acknowledged.
 */
import { closeSync, copyFileSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, writeSync, constants } from 'node:fs';
import { crc32 } from 'node:zlib';

/** A log row as the database stores it: what the tail file holds, but for its checksum (null until computed). */
export interface StoredRow {
  id: number;
  session: number;
  seq: number;
  kind: number;
  payload: string | Buffer;
  crc: number | null;
}

const FRAME_HEADER = 8;
const ROW_HEADER = 6 + 4 + 6 + 1 + 1 + 4;

export interface TailRead {
  tail: TailFile;
  /** The rows of every whole, intact frame, in the order they were written. */
  rows: StoredRow[];
  /** What was wrong, if anything (the file was copied beside it; bytes past the last intact frame were cut off). */
  damage: string | null;
  /**
   * Index in `rows` of the first row after a damaged stretch that intact
   * frames follow (rows.length if none): a session may have lost rows there,
   * so its rows from here on apply only if none of its own is missing.
   */
  afterGap: number;
}

export class TailFile {
  readonly path: string;
  private readonly fd: number;
  private readonly sync: boolean;
  private size: number;

  private constructor(o: { path: string; fd: number; size: number; sync: boolean }) {
    this.path = o.path;
    this.fd = o.fd;
    this.size = o.size;
    this.sync = o.sync;
  }

  /**
   * Opens (creating) the file and reads it back. Bytes after the last intact
   * frame are copied to `<path>.damaged-<stamp>` and cut off, so new frames
   * follow intact ones.
   */
  static open(path: string, sync: boolean, stamp: () => string): TailRead {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const total = fstatSync(fd).size;
      const buf = Buffer.allocUnsafe(total);
      for (let at = 0; at < total; ) {
        const n = readSync(fd, buf, at, total - at, at);
        if (n === 0) break;
        at += n;
      }
      const { rows, end, problem, skipped, afterGap } = parseFrames(buf);
      let damage: string | null = null;
      if (end < total || skipped.length > 0) {
        const kept = `${path}.damaged-${stamp()}`;
        let where: string;
        try {
          copyFileSync(path, kept);
          where = `the file was copied to ${kept}`;
        } catch (e) {
          where = `no copy could be made: ${(e as Error).message}`;
        }
        const parts = skipped.map((k) => `${k.to - k.from} bytes at offset ${k.from} ${k.problem} and were skipped (the intact records after them were read)`);
        if (end < total) parts.push(`the last ${total - end} of its ${total} bytes ${problem} and were ignored (a commit cut short by a crash is never acknowledged)`);
        damage = `${path}: ${parts.join('; ')}; ${where}`;
        if (end < total) ftruncateSync(fd, end);
      }
      return { tail: new TailFile({ path, fd, size: end, sync }), rows, damage, afterGap };
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Bytes in the file. */
  get bytes(): number {
    return this.size;
  }

  /**
   * Appends one frame holding `rows`: durable when this returns. On failure the
   * file is cut back to where it was, so a partial frame never precedes a
   * later whole one, and the error is thrown.
   */
  append(rows: readonly StoredRow[]): void {
    const frame = encodeFrame(rows);
    try {
      const n = writeSync(this.fd, frame, 0, frame.length, this.size);
      if (n !== frame.length) throw new Error(`short write to ${this.path} (${n} of ${frame.length} bytes): is the disk full?`);
      if (this.sync) fdatasyncSync(this.fd);
    } catch (e) {
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // The partial frame stays; open() cuts it off (it fails its checksum).
      }
      throw e;
    }
    this.size += frame.length;
  }

  /** Empties the file, once its rows are in the database. */
  clear(): void {
    ftruncateSync(this.fd, 0);
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function payloadLength(p: string | Buffer): number {
  return typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length;
}

/** Buffer.writeUIntLE(v, at, 6) without its generic byte loop: this runs on every commit. */
function writeU48(out: Buffer, v: number, at: number): void {
  out.writeUInt32LE(v % 0x100000000, at);
  out.writeUInt16LE(Math.floor(v / 0x100000000), at + 4);
}

export function encodeFrame(rows: readonly StoredRow[]): Buffer {
  let total = FRAME_HEADER;
  for (const r of rows) total += ROW_HEADER + payloadLength(r.payload);
  const out = Buffer.allocUnsafe(total);
  let at = FRAME_HEADER;
  for (const r of rows) {
    writeU48(out, r.id, at);
    out.writeUInt32LE(r.session, at + 6);
    writeU48(out, r.seq, at + 10);
    out[at + 16] = r.kind;
    out[at + 17] = typeof r.payload === 'string' ? 0 : 1;
    at += ROW_HEADER;
    const len = typeof r.payload === 'string' ? out.write(r.payload, at, 'utf8') : r.payload.copy(out, at);
    out.writeUInt32LE(len, at - 4);
    at += len;
  }
  out.writeUInt32LE(total - FRAME_HEADER, 0);
  out.writeInt32LE(crc32(out.subarray(FRAME_HEADER, total)) | 0, 4);
  return out;
}

type FrameRead = { rows: StoredRow[]; next: number } | { problem: string };

/** The frame at `at`, if it is whole and intact. */
function readFrame(buf: Buffer, at: number): FrameRead {
  if (at + FRAME_HEADER > buf.length) return { problem: 'are a record header cut short' };
  const len = buf.readUInt32LE(at);
  const body = at + FRAME_HEADER;
  if (body + len > buf.length) return { problem: 'are a record cut short' };
  if ((crc32(buf.subarray(body, body + len)) | 0) !== buf.readInt32LE(at + 4)) return { problem: 'fail their checksum' };
  const rows: StoredRow[] = [];
  let p = body;
  const stop = body + len;
  while (p < stop) {
    // A frame whose checksum holds but whose rows do not parse was written by something else.
    if (p + ROW_HEADER > stop) return { problem: 'are not records this version can read' };
    const plen = buf.readUInt32LE(p + 18);
    const type = buf[p + 17];
    const start = p + ROW_HEADER;
    if (type > 1 || start + plen > stop) return { problem: 'are not records this version can read' };
    rows.push({
      id: buf.readUIntLE(p, 6),
      session: buf.readUInt32LE(p + 6),
      seq: buf.readUIntLE(p + 10, 6),
      kind: buf[p + 16],
      payload: type === 0 ? buf.toString('utf8', start, start + plen) : Buffer.from(buf.subarray(start, start + plen)),
      crc: null,
    });
    p = start + plen;
  }
  return { rows, next: stop };
}

/**
 * Where the next whole, intact frame starts at or after `from`, or -1. Only
 * offsets whose header and first row header look like a frame's get their
 * checksum computed.
 */
function findFrame(buf: Buffer, from: number): number {
  for (let q = from; q + FRAME_HEADER + ROW_HEADER <= buf.length; q++) {
    const len = buf.readUInt32LE(q);
    if (len < ROW_HEADER || q + FRAME_HEADER + len > buf.length) continue;
    const row = q + FRAME_HEADER;
    if (buf[row + 17] > 1 || buf.readUInt32LE(row + 18) > len - ROW_HEADER) continue;
    if ('rows' in readFrame(buf, q)) return q;
  }
  return -1;
}

/**
 * The rows of the whole, intact frames of `buf`. A damaged stretch with
 * intact frames after it (a flipped bit, a bad sector) is skipped: the
 * frames after it are found again by their length and checksum. Reading
 * stops at damage with no intact frame after it (`end`).
 */
export function parseFrames(buf: Buffer): { rows: StoredRow[]; end: number; problem: string; skipped: { from: number; to: number; problem: string }[]; afterGap: number } {
  const rows: StoredRow[] = [];
  const skipped: { from: number; to: number; problem: string }[] = [];
  let afterGap = -1;
  let at = 0;
  while (at < buf.length) {
    const f = readFrame(buf, at);
    if ('rows' in f) {
      for (const r of f.rows) rows.push(r);
      at = f.next;
      continue;
    }
    const next = findFrame(buf, at + 1);
    if (next < 0) return { rows, end: at, problem: f.problem, skipped, afterGap: afterGap < 0 ? rows.length : afterGap };
    skipped.push({ from: at, to: next, problem: f.problem });
    if (afterGap < 0) afterGap = rows.length;
    at = next;
  }
  return { rows, end: at, problem: '', skipped, afterGap: afterGap < 0 ? rows.length : afterGap };
}
