/**
 * How snapshots and logged commands are written to disk.
 *
 * Numbers must come back bit for bit (a restored session continues exactly
 * as the original would), and a snapshot can hold millions of weights, so
 * arrays of numbers are stored as little-endian float64 after a small JSON
 * skeleton instead of as JSON text: exact (-0 included), about 8 bytes a
 * number instead of 18, and an order of magnitude cheaper to write and read.
 *
 * Layout of a blob: "SSB1", u32 LE length of the skeleton, the skeleton
 * (UTF-8 JSON in which each array of numbers is replaced by {"$f": offset,
 * "$n": length}), zero padding to a multiple of 8, then the float64 data.
 *
 * Step, reward and reset commands are small and on the hot path: they are
 * stored as plain JSON text, which round-trips every finite double exactly.
 *
 * Several commands of one session written in the same commit (pipelined
 * requests) share one log row: an insert costs more than a step, so a row
 * per command would make the log the larger part of a pipelined step's cost.
 * Layout of such a row's payload: "SSR1", u32 LE count, then per command a
 * u8 kind, a u8 type (0: UTF-8 text, 1: binary), a u32 LE length and the
 * bytes.
 */
import { crc32 } from 'node:zlib';

const MAGIC = 'SSB1';
const LITTLE_ENDIAN = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;
const HEADER = 8;

/** Every array of numbers goes to the binary part: JSON would turn a -0 into 0. */
function isNumberArray(x: unknown[]): x is number[] {
  if (x.length === 0) return false;
  for (let i = 0; i < x.length; i++) if (typeof x[i] !== 'number') return false;
  return true;
}

/** What a blob is made of before it is written: its head (magic, length, skeleton, padding), its arrays of numbers, and its size. */
export interface BlobPlan {
  readonly head: Buffer;
  readonly arrays: readonly ArrayLike<number>[];
  readonly bytes: number;
}

export function planBlob(value: unknown): BlobPlan {
  const arrays: ArrayLike<number>[] = [];
  let total = 0;
  const skeleton = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Float64Array || v instanceof Float32Array || (Array.isArray(v) && isNumberArray(v))) {
      const ref = { $f: total, $n: v.length };
      arrays.push(v as ArrayLike<number>);
      total += v.length;
      return ref;
    }
    return v;
  });
  const json = Buffer.from(skeleton ?? 'null', 'utf8');
  const head = Buffer.alloc((HEADER + json.length + 7) & ~7);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(json.length, 4);
  json.copy(head, HEADER);
  return { head, arrays, bytes: head.length + total * 8 };
}

/**
 * The bytes of a planned blob as consecutive parts of at most `partBytes`
 * (a multiple of 8): the head, then each array's numbers, as views of
 * Float64Arrays where the machine is little-endian (not copies). The arrays
 * must stay unchanged until the last part is used. The one writer of the
 * layout: blobPieces and encodeBlob copy its parts.
 */
export function* blobViews(plan: BlobPlan, partBytes: number): Generator<Buffer, void, void> {
  if (partBytes <= 0 || partBytes % 8 !== 0) throw new RangeError('partBytes must be a positive multiple of 8');
  yield plan.head;
  const perPart = partBytes / 8;
  for (const a of plan.arrays) {
    for (let from = 0; from < a.length; from += perPart) {
      const to = Math.min(a.length, from + perPart);
      if (a instanceof Float64Array && LITTLE_ENDIAN) {
        yield Buffer.from(a.buffer, a.byteOffset + from * 8, (to - from) * 8);
      } else {
        const out = Buffer.allocUnsafe((to - from) * 8);
        for (let i = from; i < to; i++) out.writeDoubleLE(a[i], (i - from) * 8);
        yield out;
      }
    }
  }
}

/**
 * The bytes of a planned blob (blobViews' parts, copied) as consecutive
 * pieces of `pieceBytes` (a multiple of 8; the last piece may be shorter),
 * each made only when asked for: a large blob is then never copied whole in
 * one go, and a piece made does not change with the arrays.
 */
export function* blobPieces(plan: BlobPlan, pieceBytes: number): Generator<Buffer, void, void> {
  if (pieceBytes <= 0 || pieceBytes % 8 !== 0) throw new RangeError('pieceBytes must be a positive multiple of 8');
  let left = plan.bytes;
  let piece = Buffer.allocUnsafe(Math.min(pieceBytes, left));
  let o = 0;
  for (const part of blobViews(plan, pieceBytes)) {
    for (let from = 0; from < part.length; ) {
      const n = part.copy(piece, o, from);
      o += n;
      from += n;
      if (o === piece.length) {
        yield piece;
        left -= o;
        o = 0;
        if (left > 0) piece = Buffer.allocUnsafe(Math.min(pieceBytes, left));
      }
    }
  }
}

export function encodeBlob(value: unknown): Buffer {
  const plan = planBlob(value);
  const [whole] = blobPieces(plan, Math.max(8, plan.bytes));
  return whole;
}

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/**
 * The value a blob holds. Arrays of numbers come back as plain arrays, but
 * those under a key in `typedKeys`, which come back as Float64Arrays (views
 * of the blob's bytes, or copies where those are not aligned): millions of
 * numbers as a plain array cost a number each to make and again to check.
 */
export function decodeBlob(buf: Uint8Array, options: { typedKeys?: ReadonlySet<string> } = {}): unknown {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < HEADER || b.toString('latin1', 0, 4) !== MAGIC) throw new CodecError('not a spikeserve blob (bad magic)');
  const jsonLen = b.readUInt32LE(4);
  if (HEADER + jsonLen > b.length) throw new CodecError('blob truncated in its skeleton');
  const dataStart = (HEADER + jsonLen + 7) & ~7;
  const count = Math.floor((b.length - dataStart) / 8);
  let skeleton: unknown;
  try {
    skeleton = JSON.parse(b.toString('utf8', HEADER, HEADER + jsonLen));
  } catch (e) {
    throw new CodecError(`blob skeleton is not JSON: ${(e as Error).message}`);
  }
  return revive(skeleton, { b, dataStart, count, typedKeys: options.typedKeys ?? null }, false);
}

interface BlobData {
  b: Buffer;
  dataStart: number;
  count: number;
  typedKeys: ReadonlySet<string> | null;
}

function revive(v: unknown, d: BlobData, typed: boolean): unknown {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = revive(v[i], d, false);
    return v;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$f === 'number' && typeof o.$n === 'number' && Object.keys(o).length === 2) {
      const off = o.$f;
      const len = o.$n;
      if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > d.count) throw new CodecError('blob truncated in its data');
      const start = d.dataStart + off * 8;
      if (typed) {
        // A view of the blob's own bytes where they are aligned (a blob read whole is), else a copy.
        if (LITTLE_ENDIAN && (d.b.byteOffset + start) % 8 === 0) return new Float64Array(d.b.buffer, d.b.byteOffset + start, len);
        const out = new Float64Array(len);
        if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(d.b.subarray(start, start + len * 8));
        else for (let i = 0; i < len; i++) out[i] = d.b.readDoubleLE(start + i * 8);
        return out;
      }
      const out = new Array<number>(len);
      for (let i = 0, at = start; i < len; i++, at += 8) out[i] = d.b.readDoubleLE(at);
      return out;
    }
    for (const k of Object.keys(o)) o[k] = revive(o[k], d, d.typedKeys !== null && d.typedKeys.has(k));
  }
  return v;
}

/** One logged command as stored: its kind (the log's `kind` column) and what it says. */
export interface LogEntry {
  kind: number;
  payload: string | Buffer;
}

const PACKED_MAGIC = 'SSR1';
const PACKED_HEADER = 8;
const ENTRY_HEADER = 6;

/** Several consecutive commands of one session as one payload. */
export function packEntries(entries: readonly LogEntry[]): Buffer {
  const lengths = new Array<number>(entries.length);
  let total = PACKED_HEADER;
  for (let i = 0; i < entries.length; i++) {
    const p = entries[i].payload;
    lengths[i] = typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length;
    total += ENTRY_HEADER + lengths[i];
  }
  const out = Buffer.allocUnsafe(total);
  out.write(PACKED_MAGIC, 0, 'latin1');
  out.writeUInt32LE(entries.length, 4);
  let at = PACKED_HEADER;
  for (let i = 0; i < entries.length; i++) {
    const { kind, payload } = entries[i];
    out[at] = kind;
    out[at + 1] = typeof payload === 'string' ? 0 : 1;
    out.writeUInt32LE(lengths[i], at + 2);
    at += ENTRY_HEADER;
    if (typeof payload === 'string') out.write(payload, at, 'utf8');
    else payload.copy(out, at);
    at += lengths[i];
  }
  return out;
}

/** The commands packEntries wrote; throws CodecError if the payload is not one. */
export function unpackEntries(buf: Uint8Array): LogEntry[] {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < PACKED_HEADER || b.toString('latin1', 0, 4) !== PACKED_MAGIC) throw new CodecError('not a packed log row (bad magic)');
  const count = b.readUInt32LE(4);
  const out: LogEntry[] = [];
  let at = PACKED_HEADER;
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_HEADER > b.length) throw new CodecError('packed log row truncated');
    const kind = b[at];
    const type = b[at + 1];
    const len = b.readUInt32LE(at + 2);
    at += ENTRY_HEADER;
    if (type > 1 || at + len > b.length) throw new CodecError('packed log row truncated or malformed');
    out.push({ kind, payload: type === 0 ? b.toString('utf8', at, at + len) : b.subarray(at, at + len) });
    at += len;
  }
  if (at !== b.length) throw new CodecError('packed log row has bytes past its last command');
  return out;
}

/** Checksum of a logged command, over where it belongs as well as what it says: a row moved to another session or position fails it. */
export function recordChecksum(r: { session: number; seq: number; kind: number; payload: string | Uint8Array }): number {
  return crc32(r.payload, crc32(`${r.session}:${r.seq}:${r.kind}`)) | 0;
}

export function blobChecksum(data: Uint8Array): number {
  return crc32(data) | 0;
}
