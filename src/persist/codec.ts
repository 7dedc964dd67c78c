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
 */
import { crc32 } from 'node:zlib';

const MAGIC = 'SSB1';
const HEADER = 8;

/** Every array of numbers goes to the binary part: JSON would turn a -0 into 0. */
function isNumberArray(x: unknown[]): x is number[] {
  if (x.length === 0) return false;
  for (let i = 0; i < x.length; i++) if (typeof x[i] !== 'number') return false;
  return true;
}

export function encodeBlob(value: unknown): Buffer {
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
  const dataStart = (HEADER + json.length + 7) & ~7;
  const out = Buffer.alloc(dataStart + total * 8);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(json.length, 4);
  json.copy(out, HEADER);
  let at = dataStart;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++, at += 8) out.writeDoubleLE(a[i], at);
  }
  return out;
}

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

export function decodeBlob(buf: Uint8Array): unknown {
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
  return revive(skeleton, b, dataStart, count);
}

function revive(v: unknown, b: Buffer, dataStart: number, count: number): unknown {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = revive(v[i], b, dataStart, count);
    return v;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$f === 'number' && typeof o.$n === 'number' && Object.keys(o).length === 2) {
      const off = o.$f;
      const len = o.$n;
      if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > count) throw new CodecError('blob truncated in its data');
      const out = new Array<number>(len);
      for (let i = 0, at = dataStart + off * 8; i < len; i++, at += 8) out[i] = b.readDoubleLE(at);
      return out;
    }
    for (const k of Object.keys(o)) o[k] = revive(o[k], b, dataStart, count);
  }
  return v;
}

/** Checksum of a logged command, over where it belongs as well as what it says: a row moved to another session or position fails it. */
export function recordChecksum(session: number, seq: number, kind: number, payload: string | Uint8Array): number {
  return crc32(payload, crc32(`${session}:${seq}:${kind}`)) | 0;
}

export function blobChecksum(data: Uint8Array): number {
  return crc32(data) | 0;
}
