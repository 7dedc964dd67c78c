/**
 * JSON text written a piece at a time: a reply of millions of numbers (a
 * large connection's weights, a snapshot) serialised in one go would hold
 * the event loop for seconds, and every other client with it. The text is
 * cut into chunks of about SLICE_MS of work, and the loop runs between them;
 * whoever sends the chunks takes the next one when the client has read
 * enough (an HTTP body as a stream, a WebSocket message in fragments). Typed
 * arrays are written as JSON arrays (JSON.stringify would write objects).
 */
import { Readable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/** Work between two yields to the event loop. */
const SLICE_MS = 4;
/** Numbers joined in one piece: small enough to check the clock often. */
const PIECE = 4096;
/** Text handed to the stream at once. */
const CHUNK_CHARS = 1 << 20;

function isTyped(v: unknown): v is Float64Array | Float32Array | Int32Array | Uint32Array {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

/** The JSON text of `value`, in pieces; same output as JSON.stringify, typed arrays as arrays. */
function* pieces(value: unknown): Generator<string> {
  if (isTyped(value)) {
    const n = value.length;
    if (n === 0) {
      yield '[]';
      return;
    }
    yield '[';
    for (let i = 0; i < n; i += PIECE) {
      // Finite numbers print the same with join as with JSON; NaN and Infinity are null in JSON.
      const part = value.subarray(i, Math.min(n, i + PIECE));
      yield (i > 0 ? ',' : '') + (part.every(Number.isFinite) ? part.join(',') : Array.from(part, (x) => JSON.stringify(x)).join(','));
    }
    yield ']';
    return;
  }
  if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      const v = value[i];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') yield 'null';
      else yield* pieces(v);
    }
    yield ']';
    return;
  }
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function') {
    yield '{';
    let first = true;
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      yield (first ? '' : ',') + JSON.stringify(k) + ':';
      first = false;
      yield* pieces(v);
    }
    yield '}';
    return;
  }
  yield JSON.stringify(value) ?? 'null';
}

/** The JSON text of `value` (as JSON.stringify writes it), in chunks of a slice of work each, the loop let run between them. */
export async function* jsonSlices(value: unknown): AsyncGenerator<string> {
  let buf = '';
  let sliceEnd = performance.now() + SLICE_MS;
  for (const p of pieces(value)) {
    buf += p;
    if (buf.length >= CHUNK_CHARS || performance.now() >= sliceEnd) {
      yield buf;
      buf = '';
      await yieldToLoop();
      sliceEnd = performance.now() + SLICE_MS;
    }
  }
  if (buf !== '') yield buf;
}

/** A stream of the JSON text of `value`. */
export function jsonStream(value: unknown): Readable {
  return Readable.from(jsonSlices(value), { objectMode: false });
}
