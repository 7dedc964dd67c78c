/**
 * The binary frames of the WebSocket protocol, version 1: written by the
 * server, read by src/client (and by anyone from docs/websocket.md, "Binary frames",
 * which this file must match; test/ws-binary-format.test.ts checks a frame
 * byte for byte against the documented example). Pure: no ws, no sockets.
 *
 * Layout (every integer little-endian, every frame a multiple of 4 bytes):
 *
 *   header, 24 bytes
 *     0  u8   format version, 1
 *     1  u8   kind (FRAME_KINDS)
 *     2  u16  flags: bit 0 = pending (the step's update waits for a reward)
 *     4  u32  L, the length in bytes of the id
 *     8  f64  step: the session's step count
 *    16  u32  steps: a step reply's number of steps run; 0 otherwise
 *    20  u32  S, the number of sections
 *   id: L bytes, the request id as JSON text in UTF-8 (`17`, `"a1"`), then
 *       zero bytes up to a multiple of 4
 *   S sections, each a 12-byte header and its payload
 *     0  u8   section type (SECTION_TYPES)
 *     1  u8   0
 *     2  u16  index of the population (spikes, counts, potentials) or the
 *             connection (weights) in the hello message's lists
 *     4  u32  a
 *     8  u32  b
 *    12  payload
 *       spikes      a = steps T, b = spikes K; u32 count[T] then u32 index[K]
 *                   (step 0's indices first)
 *       counts      a = n, b = 0; u32 count[n]
 *       potentials  a = n, b = 0; f32 v[n]
 *       weights     a = rows (pre.n), b = cols (post.n); f32 w[rows*cols],
 *                   row-major: w[i][j] at i*cols + j
 *       reward      index 0, a = source (REWARD_SOURCE_CODES), b = 0; f64 r
 *                   (f64, not f32: a reward is the client's own number, and
 *                   must read back as exactly what it sent)
 *       weights64   as weights, but f64 w[rows*cols]: exact, for HTTP's
 *                   binary weights (GET and PUT .../weights with
 *                   application/octet-stream), which must read back and
 *                   write exactly what the session holds
 *       copy        index 0, a = a copy of a batch (0 to batch_size - 1),
 *                   b = 0; no payload. The spikes, counts, potentials and
 *                   reward sections after it, up to the next copy section,
 *                   are that copy's. Only frames of a batch (batch_size > 1)
 *                   have them; weights, shared by the copies, come after
 *                   the last copy's sections and belong to none.
 *
 * A rewards event (kind rewardEvent) has one reward section (in a batch, a
 * copy section and a reward section per copy), and the header's step is the
 * step whose update used it.
 */
import type { MessageId, RewardSource } from '../api/ws.js';

export const BINARY_FORMAT_VERSION = 1;
export const HEADER_BYTES = 24;
export const SECTION_HEADER_BYTES = 12;

export const FRAME_KINDS = { step: 1, weights: 2, spikesEvent: 3, potentialsEvent: 4, weightsEvent: 5, rewardEvent: 6 } as const;
export type FrameKind = keyof typeof FRAME_KINDS;
const KIND_NAMES = new Map<number, FrameKind>(Object.entries(FRAME_KINDS).map(([k, v]) => [v, k as FrameKind]));

export const SECTION_TYPES = { spikes: 1, counts: 2, potentials: 3, weights: 4, reward: 5, weights64: 6, copy: 7 } as const;
export type SectionType = keyof typeof SECTION_TYPES;
const SECTION_NAMES = new Map<number, SectionType>(Object.entries(SECTION_TYPES).map(([k, v]) => [v, k as SectionType]));

export const REWARD_SOURCE_CODES: Record<RewardSource, number> = { step: 1, deferred: 2, implicit: 3 };
const REWARD_SOURCE_NAMES = new Map<number, RewardSource>(Object.entries(REWARD_SOURCE_CODES).map(([k, v]) => [v, k as RewardSource]));

const FLAG_PENDING = 1;

/** What a section carries, before encoding. Arrays may be plain or typed. */
export type SectionInput =
  | { type: 'spikes'; index: number; steps: ArrayLike<ArrayLike<number>> }
  | { type: 'counts'; index: number; counts: ArrayLike<number> }
  | { type: 'potentials'; index: number; values: ArrayLike<number> }
  | { type: 'weights'; index: number; rows: number; cols: number; values: ArrayLike<number> | ArrayLike<ArrayLike<number>> }
  | { type: 'weights64'; index: number; rows: number; cols: number; values: Float64Array }
  | { type: 'reward'; source: RewardSource; reward: number }
  | { type: 'copy'; copy: number };

export interface FrameInput {
  kind: FrameKind;
  id?: MessageId;
  step: number;
  steps?: number;
  pending?: boolean;
  sections: SectionInput[];
}

const pad4 = (n: number) => (n + 3) & ~3;

function sectionBytes(s: SectionInput): number {
  switch (s.type) {
    case 'spikes': {
      let k = 0;
      for (let t = 0; t < s.steps.length; t++) k += s.steps[t].length;
      return SECTION_HEADER_BYTES + 4 * (s.steps.length + k);
    }
    case 'counts':
      return SECTION_HEADER_BYTES + 4 * s.counts.length;
    case 'potentials':
      return SECTION_HEADER_BYTES + 4 * s.values.length;
    case 'weights':
      return SECTION_HEADER_BYTES + 4 * s.rows * s.cols;
    case 'weights64':
      return SECTION_HEADER_BYTES + 8 * s.rows * s.cols;
    case 'reward':
      return SECTION_HEADER_BYTES + 8;
    case 'copy':
      return SECTION_HEADER_BYTES;
  }
}

/** Encodes one frame. The id is written as its JSON text. */
export function encodeFrame(frame: FrameInput): Buffer {
  const idText = frame.id === undefined ? null : Buffer.from(JSON.stringify(frame.id), 'utf8');
  const idLen = idText ? idText.length : 0;
  let size = HEADER_BYTES + pad4(idLen);
  for (const s of frame.sections) size += sectionBytes(s);
  // alloc (zero-filled): the id's padding must be zeros.
  const buf = Buffer.alloc(size);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  dv.setUint8(0, BINARY_FORMAT_VERSION);
  dv.setUint8(1, FRAME_KINDS[frame.kind]);
  dv.setUint16(2, frame.pending ? FLAG_PENDING : 0, true);
  dv.setUint32(4, idLen, true);
  dv.setFloat64(8, frame.step, true);
  dv.setUint32(16, frame.steps ?? 0, true);
  dv.setUint32(20, frame.sections.length, true);
  if (idText) idText.copy(buf, HEADER_BYTES);
  let o = HEADER_BYTES + pad4(idLen);
  for (const s of frame.sections) o = writeSection(dv, o, s);
  return buf;
}

/**
 * encodeFrame's bytes as consecutive parts, the values of each weights64
 * section, and of each weights section given row-major as a Float64Array,
 * in parts of at most `partBytes`: weights64 values as views where the
 * machine is little-endian (not copies), weights values converted to
 * float32 a part at a time. A frame of a large matrix is then never built,
 * or copied, in one go; the values must stay unchanged until the last part
 * is used.
 */
export function* encodeFrameParts(frame: FrameInput, partBytes: number): Generator<Buffer> {
  const head = encodeFrame({ ...frame, sections: [] });
  head.writeUInt32LE(frame.sections.length, 20);
  yield head;
  for (const s of frame.sections) {
    if (s.type === 'weights64') {
      yield sectionHeader(s.type, s.index, s.rows, s.cols);
      yield* f64Parts(s.values.subarray(0, s.rows * s.cols), Math.max(1, Math.floor(partBytes / 8)));
    } else if (s.type === 'weights' && s.values instanceof Float64Array) {
      yield sectionHeader(s.type, s.index, s.rows, s.cols);
      yield* f32Parts(s.values.subarray(0, s.rows * s.cols), Math.max(1, Math.floor(partBytes / 4)));
    } else {
      const buf = Buffer.alloc(sectionBytes(s));
      writeSection(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0, s);
      yield buf;
    }
  }
}

/** A section's 12-byte header alone (its payload follows in parts). */
function sectionHeader(type: SectionType, index: number, a: number, b: number): Buffer {
  const buf = Buffer.alloc(SECTION_HEADER_BYTES);
  buf.writeUInt8(SECTION_TYPES[type], 0);
  buf.writeUInt16LE(index, 2);
  buf.writeUInt32LE(a, 4);
  buf.writeUInt32LE(b, 8);
  return buf;
}

/** `values` as float64 little-endian, `perPart` numbers a part: views where the machine is little-endian. */
function* f64Parts(values: Float64Array, perPart: number): Generator<Buffer> {
  for (let from = 0; from < values.length; from += perPart) {
    const part = values.subarray(from, Math.min(values.length, from + perPart));
    if (LITTLE_ENDIAN) {
      yield Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    } else {
      const buf = Buffer.allocUnsafe(part.byteLength);
      writeF64s(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0, part);
      yield buf;
    }
  }
}

/** `values` as float32 little-endian (rounded as writeSection rounds them), `perPart` numbers a part, each a new buffer. */
function* f32Parts(values: Float64Array, perPart: number): Generator<Buffer> {
  for (let from = 0; from < values.length; from += perPart) {
    const part = values.subarray(from, Math.min(values.length, from + perPart));
    if (LITTLE_ENDIAN) {
      const f = new Float32Array(part.length);
      f.set(part);
      yield Buffer.from(f.buffer, 0, f.byteLength);
    } else {
      const buf = Buffer.allocUnsafe(4 * part.length);
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < part.length; i++) dv.setFloat32(4 * i, part[i], true);
      yield buf;
    }
  }
}

function writeSection(dv: DataView, o: number, s: SectionInput): number {
  dv.setUint8(o, SECTION_TYPES[s.type]);
  dv.setUint16(o + 2, s.type === 'reward' || s.type === 'copy' ? 0 : s.index, true);
  let p = o + SECTION_HEADER_BYTES;
  switch (s.type) {
    case 'copy':
      dv.setUint32(o + 4, s.copy, true);
      return p;
    case 'reward':
      dv.setUint32(o + 4, REWARD_SOURCE_CODES[s.source], true);
      dv.setFloat64(p, s.reward, true);
      return p + 8;
    case 'spikes': {
      const T = s.steps.length;
      let k = 0;
      for (let t = 0; t < T; t++) {
        const n = s.steps[t].length;
        dv.setUint32(p + 4 * t, n, true);
        k += n;
      }
      dv.setUint32(o + 4, T, true);
      dv.setUint32(o + 8, k, true);
      p += 4 * T;
      for (let t = 0; t < T; t++) {
        const list = s.steps[t];
        for (let i = 0; i < list.length; i++, p += 4) dv.setUint32(p, list[i], true);
      }
      return p;
    }
    case 'counts':
      dv.setUint32(o + 4, s.counts.length, true);
      for (let i = 0; i < s.counts.length; i++, p += 4) dv.setUint32(p, s.counts[i], true);
      return p;
    case 'potentials':
      dv.setUint32(o + 4, s.values.length, true);
      for (let i = 0; i < s.values.length; i++, p += 4) dv.setFloat32(p, s.values[i], true);
      return p;
    case 'weights': {
      dv.setUint32(o + 4, s.rows, true);
      dv.setUint32(o + 8, s.cols, true);
      const v = s.values;
      if (s.rows > 0 && typeof v[0] === 'object') {
        const rows = v as ArrayLike<ArrayLike<number>>;
        for (let i = 0; i < s.rows; i++) {
          const row = rows[i];
          for (let j = 0; j < s.cols; j++, p += 4) dv.setFloat32(p, row[j], true);
        }
      } else {
        const flat = v as ArrayLike<number>;
        for (let i = 0; i < s.rows * s.cols; i++, p += 4) dv.setFloat32(p, flat[i], true);
      }
      return p;
    }
    case 'weights64': {
      dv.setUint32(o + 4, s.rows, true);
      dv.setUint32(o + 8, s.cols, true);
      writeF64s(dv, p, s.values.subarray(0, s.rows * s.cols));
      return p + 8 * s.rows * s.cols;
    }
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

/** Float64s little-endian at byte `o`: a copy of their bytes where the machine is little-endian itself. */
function writeF64s(dv: DataView, o: number, values: Float64Array): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(dv.buffer, dv.byteOffset + o, values.byteLength).set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return;
  }
  for (let i = 0; i < values.length; i++) dv.setFloat64(o + 8 * i, values[i], true);
}

/** `view`: the values in place where they are aligned, not a copy. */
function readF64s(dv: DataView, o: number, n: number, view = false): Float64Array {
  if (view && LITTLE_ENDIAN && (dv.byteOffset + o) % 8 === 0) return new Float64Array(dv.buffer, dv.byteOffset + o, n);
  const out = new Float64Array(n);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(new Uint8Array(dv.buffer, dv.byteOffset + o, 8 * n));
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = dv.getFloat64(o + 8 * i, true);
  return out;
}

// ---- decoding ----

export type Section =
  | { type: 'spikes'; index: number; counts: Uint32Array; indices: Uint32Array }
  | { type: 'counts'; index: number; counts: Uint32Array }
  | { type: 'potentials'; index: number; values: Float32Array }
  | { type: 'weights'; index: number; rows: number; cols: number; values: Float32Array }
  | { type: 'weights64'; index: number; rows: number; cols: number; values: Float64Array }
  | { type: 'reward'; index: number; source: RewardSource; reward: number }
  | { type: 'copy'; index: number; copy: number };

export interface DecodedFrame {
  version: number;
  kind: FrameKind;
  pending: boolean;
  id: MessageId | undefined;
  step: number;
  steps: number;
  sections: Section[];
}

export class BinaryFrameError extends Error {
  constructor(message: string) {
    super(`binary frame: ${message}`);
    this.name = 'BinaryFrameError';
  }
}

function readU32s(dv: DataView, o: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint32(o + 4 * i, true);
  return out;
}

function readF32s(dv: DataView, o: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(o + 4 * i, true);
  return out;
}

/**
 * Decodes a frame; throws BinaryFrameError on anything that does not follow
 * the layout. `views`: weights64 values as views of `data` where they are
 * aligned (the caller keeps `data` unchanged), else copies.
 */
export function decodeFrame(data: ArrayBufferView | ArrayBuffer, options: { views?: boolean } = {}): DecodedFrame {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number, what: string) => {
    if (end > bytes.byteLength) throw new BinaryFrameError(`${what} runs past the end (${bytes.byteLength} bytes)`);
  };
  need(HEADER_BYTES, 'header');
  const version = dv.getUint8(0);
  if (version !== BINARY_FORMAT_VERSION) throw new BinaryFrameError(`version ${version}, this reader knows ${BINARY_FORMAT_VERSION}`);
  const kind = KIND_NAMES.get(dv.getUint8(1));
  if (!kind) throw new BinaryFrameError(`unknown kind ${dv.getUint8(1)}`);
  const flags = dv.getUint16(2, true);
  const idLen = dv.getUint32(4, true);
  const step = dv.getFloat64(8, true);
  const steps = dv.getUint32(16, true);
  const count = dv.getUint32(20, true);
  need(HEADER_BYTES + idLen, 'id');
  const id = idLen === 0 ? undefined : (JSON.parse(new TextDecoder().decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + idLen))) as MessageId);
  let o = HEADER_BYTES + pad4(idLen);
  const sections: Section[] = [];
  for (let k = 0; k < count; k++) {
    need(o + SECTION_HEADER_BYTES, `section ${k} header`);
    const type = SECTION_NAMES.get(dv.getUint8(o));
    if (!type) throw new BinaryFrameError(`section ${k}: unknown type ${dv.getUint8(o)}`);
    const index = dv.getUint16(o + 2, true);
    const a = dv.getUint32(o + 4, true);
    const b = dv.getUint32(o + 8, true);
    const p = o + SECTION_HEADER_BYTES;
    switch (type) {
      case 'spikes':
        need(p + 4 * (a + b), `section ${k}`);
        sections.push({ type, index, counts: readU32s(dv, p, a), indices: readU32s(dv, p + 4 * a, b) });
        o = p + 4 * (a + b);
        break;
      case 'counts':
        need(p + 4 * a, `section ${k}`);
        sections.push({ type, index, counts: readU32s(dv, p, a) });
        o = p + 4 * a;
        break;
      case 'potentials':
        need(p + 4 * a, `section ${k}`);
        sections.push({ type, index, values: readF32s(dv, p, a) });
        o = p + 4 * a;
        break;
      case 'weights':
        need(p + 4 * a * b, `section ${k}`);
        sections.push({ type, index, rows: a, cols: b, values: readF32s(dv, p, a * b) });
        o = p + 4 * a * b;
        break;
      case 'weights64':
        need(p + 8 * a * b, `section ${k}`);
        sections.push({ type, index, rows: a, cols: b, values: readF64s(dv, p, a * b, options.views === true) });
        o = p + 8 * a * b;
        break;
      case 'copy':
        sections.push({ type, index, copy: a });
        o = p;
        break;
      case 'reward': {
        need(p + 8, `section ${k}`);
        const source = REWARD_SOURCE_NAMES.get(a);
        if (!source) throw new BinaryFrameError(`section ${k}: unknown reward source ${a}`);
        sections.push({ type, index, source, reward: dv.getFloat64(p, true) });
        o = p + 8;
        break;
      }
    }
  }
  if (o !== bytes.byteLength) throw new BinaryFrameError(`${bytes.byteLength - o} bytes after the last section`);
  return { version, kind, pending: (flags & FLAG_PENDING) !== 0, id, step, steps, sections };
}

/** A spikes section's per-step index lists. */
export function spikeLists(s: { counts: Uint32Array; indices: Uint32Array }): number[][] {
  const out: number[][] = [];
  let k = 0;
  for (let t = 0; t < s.counts.length; t++) {
    const n = s.counts[t];
    out.push(Array.from(s.indices.subarray(k, k + n)));
    k += n;
  }
  return out;
}

/** A weights section as [rows][cols]. */
export function weightRows(s: { rows: number; cols: number; values: Float32Array }): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < s.rows; i++) out.push(Array.from(s.values.subarray(i * s.cols, (i + 1) * s.cols)));
  return out;
}
