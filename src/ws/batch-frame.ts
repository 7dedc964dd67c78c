/**
 * The binary step_batch of the multiplexed socket (/v1/ws): a request frame
 * (kind 7) the client sends, many sessions' inputs and rewards as float64
 * arrays after a JSON header, and the reply frame (kind 8), every item's
 * step count, flags, spike counts and potentials as arrays, so that neither
 * side prints or parses a number per value. docs/websocket.md ("Binary
 * step_batch") is the prose, which this file must match;
 * test/ws-multiplex-binary.test.ts checks both. Pure: no ws, no sockets.
 *
 * Every integer is little-endian and unsigned; every part starts at a
 * multiple of 8 bytes (zero bytes pad the part before), so that a reader can
 * view the float64 arrays in place.
 *
 * Request, kind 7:
 *     0  u8   format version, 1
 *     1  u8   kind, 7
 *     2  u16  flags, 0
 *     4  u32  J, the length in bytes of the JSON header
 *     8  J bytes: the header (BinaryStepBatchHeaderSchema) as UTF-8 JSON text
 *   then, for each of the header's `inputs` in order, f64 x[R][n], then f64
 *   reward[R] if `rewards`; nothing after. R is N (row i is sessions[i]'s)
 *   or, with the header's `copyRows`, their sum: sessions[i]'s copyRows[i]
 *   rows in order, 1 for every copy of it or one per copy (copy 0 first).
 *
 * Reply, kind 8:
 *     0  u8   format version, 1
 *     1  u8   kind, 8
 *     2  u16  flags, 0
 *     4  u32  L, the length in bytes of the id (its JSON text; 0: no id)
 *     8  u32  N, the items
 *    12  u32  S, the sections
 *    16  u32  E, the length in bytes of the errors' JSON text (0: none failed)
 *    20  u32  0
 *    24  L bytes: the id
 *   f64 step[N]: each item's step count after it (0 for a failed item)
 *   u32 steps[N]: the steps it ran
 *   u8  status[N]: bit 0 set = it succeeded, bit 1 set = its update is pending
 *   S sections, each a 16-byte header and its payload:
 *     0  u8   type: 1 spike counts, 2 potentials
 *     1  u8   0
 *     2  u16  index of the population in the header's `counts` (type 1) or
 *             `potentials` (type 2) list
 *     4  u32  N
 *     8  u32  K, the values in all
 *    12  u32  0
 *    16  u32 size[N]: item i's values (0 for a failed item; a session of
 *        batch_size B gives B x n, copy 0's first)
 *        then u32 count[K] (type 1) or f64 v[K] (type 2), item 0's first
 *   E bytes: the errors (BinaryStepBatchErrorsSchema), UTF-8 JSON text.
 */
import type { BinaryStepBatchErrors } from '../api/ws-multiplex.js';
import type { MessageId } from '../api/ws.js';
import { BINARY_FORMAT_VERSION, BinaryFrameError } from './binary-format.js';

export const BATCH_FRAME_KINDS = { stepBatch: 7, stepBatchReply: 8 } as const;
export const BATCH_REQUEST_HEADER_BYTES = 8;
export const BATCH_REPLY_HEADER_BYTES = 24;
export const BATCH_SECTION_HEADER_BYTES = 16;
export const BATCH_SECTION_TYPES = { counts: 1, potentials: 2 } as const;
export type BatchSectionType = keyof typeof BATCH_SECTION_TYPES;
export const BATCH_STATUS_BITS = { ok: 1, pending: 2 } as const;

const pad8 = (n: number) => (n + 7) & ~7;

/** The parts of a request frame: its JSON header's bytes, and the float64 values after it. */
export interface StepBatchRequestParts {
  header: Buffer;
  values: Float64Array;
}

/** Splits a request frame; throws BinaryFrameError if it is not one. The values are copied (a received buffer need not be aligned). */
export function splitStepBatchRequest(data: Buffer): StepBatchRequestParts {
  if (data.length < BATCH_REQUEST_HEADER_BYTES) throw new BinaryFrameError(`${data.length} bytes, shorter than the ${BATCH_REQUEST_HEADER_BYTES}-byte header`);
  const version = data[0];
  if (version !== BINARY_FORMAT_VERSION) throw new BinaryFrameError(`version ${version}, this server reads ${BINARY_FORMAT_VERSION}`);
  if (data[1] !== BATCH_FRAME_KINDS.stepBatch) throw new BinaryFrameError(`kind ${data[1]}: the only frame a client sends is a step_batch (kind ${BATCH_FRAME_KINDS.stepBatch}), on the multiplexed socket`);
  const j = data.readUInt32LE(4);
  const start = pad8(BATCH_REQUEST_HEADER_BYTES + j);
  if (start > data.length) throw new BinaryFrameError(`a JSON header of ${j} bytes runs past the end (${data.length} bytes)`);
  const rest = data.length - start;
  if (rest % 8 !== 0) throw new BinaryFrameError(`${rest} bytes of values after the header, not a whole number of float64s`);
  const values = new Float64Array(rest / 8);
  new Uint8Array(values.buffer).set(data.subarray(start));
  return { header: data.subarray(BATCH_REQUEST_HEADER_BYTES, BATCH_REQUEST_HEADER_BYTES + j), values };
}

/** A request frame from its header and arrays (each already [R][n] row-major, in the header's order); for clients and tests. */
export function encodeStepBatchRequest(header: object, arrays: readonly ArrayLike<number>[]): Buffer {
  const text = Buffer.from(JSON.stringify(header), 'utf8');
  const start = pad8(BATCH_REQUEST_HEADER_BYTES + text.length);
  const count = arrays.reduce((a, x) => a + x.length, 0);
  const buf = Buffer.alloc(start + 8 * count);
  buf[0] = BINARY_FORMAT_VERSION;
  buf[1] = BATCH_FRAME_KINDS.stepBatch;
  buf.writeUInt32LE(text.length, 4);
  text.copy(buf, BATCH_REQUEST_HEADER_BYTES);
  let o = start;
  for (const x of arrays) for (let i = 0; i < x.length; i++, o += 8) buf.writeDoubleLE(x[i], o);
  return buf;
}

/** One item of a reply: what its step gave (`values[s]`: section s's values, empty when it failed). */
export interface BatchReplyItem {
  ok: boolean;
  step: number;
  steps: number;
  pending: boolean;
}

export interface BatchReplyInput {
  id: MessageId | undefined;
  items: readonly BatchReplyItem[];
  /** Per section, its type, index, and each item's values. */
  sections: readonly { type: BatchSectionType; index: number; values: readonly ArrayLike<number>[] }[];
  errors: BinaryStepBatchErrors;
}

/** Encodes a reply frame. */
export function encodeStepBatchReply(r: BatchReplyInput): Buffer {
  const idText = r.id === undefined ? null : Buffer.from(JSON.stringify(r.id), 'utf8');
  const idLen = idText ? idText.length : 0;
  const errText = r.errors.length > 0 ? Buffer.from(JSON.stringify(r.errors), 'utf8') : null;
  const n = r.items.length;
  let size = pad8(BATCH_REPLY_HEADER_BYTES + idLen) + 8 * n + pad8(5 * n);
  const totals = r.sections.map((s) => {
    let k = 0;
    for (const v of s.values) k += v.length;
    size += BATCH_SECTION_HEADER_BYTES + pad8(4 * n) + pad8((s.type === 'counts' ? 4 : 8) * k);
    return k;
  });
  size += errText ? errText.length : 0;
  // alloc (zero-filled): the padding must be zeros.
  const buf = Buffer.alloc(size);
  buf[0] = BINARY_FORMAT_VERSION;
  buf[1] = BATCH_FRAME_KINDS.stepBatchReply;
  buf.writeUInt32LE(idLen, 4);
  buf.writeUInt32LE(n, 8);
  buf.writeUInt32LE(r.sections.length, 12);
  buf.writeUInt32LE(errText ? errText.length : 0, 16);
  if (idText) idText.copy(buf, BATCH_REPLY_HEADER_BYTES);
  let o = pad8(BATCH_REPLY_HEADER_BYTES + idLen);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < n; i++) dv.setFloat64(o + 8 * i, r.items[i].step, true);
  o += 8 * n;
  for (let i = 0; i < n; i++) dv.setUint32(o + 4 * i, r.items[i].steps, true);
  o += 4 * n;
  for (let i = 0; i < n; i++) buf[o + i] = (r.items[i].ok ? BATCH_STATUS_BITS.ok : 0) | (r.items[i].pending ? BATCH_STATUS_BITS.pending : 0);
  o = pad8(o + n);
  r.sections.forEach((s, k) => {
    buf[o] = BATCH_SECTION_TYPES[s.type];
    dv.setUint16(o + 2, s.index, true);
    dv.setUint32(o + 4, n, true);
    dv.setUint32(o + 8, totals[k], true);
    o += BATCH_SECTION_HEADER_BYTES;
    for (let i = 0; i < n; i++) dv.setUint32(o + 4 * i, s.values[i].length, true);
    o += pad8(4 * n);
    if (s.type === 'counts') {
      for (const v of s.values) for (let j = 0; j < v.length; j++, o += 4) dv.setUint32(o, v[j], true);
    } else {
      for (const v of s.values) for (let j = 0; j < v.length; j++, o += 8) dv.setFloat64(o, v[j], true);
    }
    o = pad8(o);
  });
  if (errText) errText.copy(buf, o);
  return buf;
}

/** A reply frame, decoded (for clients and tests). */
export interface DecodedBatchReply {
  id: MessageId | undefined;
  step: Float64Array;
  steps: Uint32Array;
  ok: boolean[];
  pending: boolean[];
  sections: { type: BatchSectionType; index: number; sizes: Uint32Array; values: Uint32Array | Float64Array }[];
  errors: BinaryStepBatchErrors;
}

const SECTION_NAMES = new Map<number, BatchSectionType>(Object.entries(BATCH_SECTION_TYPES).map(([k, v]) => [v, k as BatchSectionType]));

/** Decodes a reply frame; throws BinaryFrameError on anything that does not follow the layout. */
export function decodeStepBatchReply(data: ArrayBufferView): DecodedBatchReply {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number, what: string) => {
    if (end > bytes.byteLength) throw new BinaryFrameError(`${what} runs past the end (${bytes.byteLength} bytes)`);
  };
  need(BATCH_REPLY_HEADER_BYTES, 'header');
  if (bytes[0] !== BINARY_FORMAT_VERSION) throw new BinaryFrameError(`version ${bytes[0]}, this reader knows ${BINARY_FORMAT_VERSION}`);
  if (bytes[1] !== BATCH_FRAME_KINDS.stepBatchReply) throw new BinaryFrameError(`kind ${bytes[1]}, not a step_batch reply (${BATCH_FRAME_KINDS.stepBatchReply})`);
  const idLen = dv.getUint32(4, true);
  const n = dv.getUint32(8, true);
  const count = dv.getUint32(12, true);
  const errLen = dv.getUint32(16, true);
  need(BATCH_REPLY_HEADER_BYTES + idLen, 'id');
  const text = new TextDecoder();
  const id = idLen === 0 ? undefined : (JSON.parse(text.decode(bytes.subarray(BATCH_REPLY_HEADER_BYTES, BATCH_REPLY_HEADER_BYTES + idLen))) as MessageId);
  let o = pad8(BATCH_REPLY_HEADER_BYTES + idLen);
  need(o + 8 * n + pad8(5 * n), 'items');
  const step = new Float64Array(n);
  const steps = new Uint32Array(n);
  const ok: boolean[] = [];
  const pending: boolean[] = [];
  for (let i = 0; i < n; i++) step[i] = dv.getFloat64(o + 8 * i, true);
  o += 8 * n;
  for (let i = 0; i < n; i++) steps[i] = dv.getUint32(o + 4 * i, true);
  o += 4 * n;
  for (let i = 0; i < n; i++) {
    ok.push((bytes[o + i] & BATCH_STATUS_BITS.ok) !== 0);
    pending.push((bytes[o + i] & BATCH_STATUS_BITS.pending) !== 0);
  }
  o = pad8(o + n);
  const sections: DecodedBatchReply['sections'] = [];
  for (let s = 0; s < count; s++) {
    need(o + BATCH_SECTION_HEADER_BYTES + pad8(4 * n), `section ${s}`);
    const type = SECTION_NAMES.get(bytes[o]);
    if (!type) throw new BinaryFrameError(`section ${s}: unknown type ${bytes[o]}`);
    const index = dv.getUint16(o + 2, true);
    const k = dv.getUint32(o + 8, true);
    o += BATCH_SECTION_HEADER_BYTES;
    const sizes = new Uint32Array(n);
    for (let i = 0; i < n; i++) sizes[i] = dv.getUint32(o + 4 * i, true);
    o += pad8(4 * n);
    const width = type === 'counts' ? 4 : 8;
    need(o + width * k, `section ${s}`);
    const values = type === 'counts' ? new Uint32Array(k) : new Float64Array(k);
    for (let j = 0; j < k; j++) values[j] = type === 'counts' ? dv.getUint32(o + 4 * j, true) : dv.getFloat64(o + 8 * j, true);
    o = pad8(o + width * k);
    sections.push({ type, index, sizes, values });
  }
  need(o + errLen, 'errors');
  const errors = errLen === 0 ? [] : (JSON.parse(text.decode(bytes.subarray(o, o + errLen))) as BinaryStepBatchErrors);
  if (o + errLen !== bytes.byteLength) throw new BinaryFrameError(`${bytes.byteLength - o - errLen} bytes after the errors`);
  return { id, step, steps, ok, pending, sections, errors };
}
