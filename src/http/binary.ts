/**
 * The binary media type of the HTTP API, application/octet-stream: weights
 * as the WebSocket's binary frames carry them (src/ws/binary-format.ts), in
 * weights64 sections (exact float64), and snapshots as the blobs the server
 * stores them in (src/persist/codec.ts). A client asks for it with
 * `Accept: application/octet-stream` and sends it with that content-type.
 * Compact and cheap to write and read: 8 bytes a number instead of about 19,
 * and no number printed or parsed.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SNAPSHOT_VECTORS, type TypedSnapshot } from '../engine/index.js';
import { SpikeserveError } from '../errors.js';
import { readBody } from './body-reader.js';
import { blobViews, CodecError, decodeBlob, planBlob } from '../persist/codec.js';
import type { WeightMatrices } from '../api/state.js';
import { BinaryFrameError, decodeFrame, encodeFrameParts, HEADER_BYTES, SECTION_HEADER_BYTES, type FrameInput } from '../ws/binary-format.js';

export const BINARY = 'application/octet-stream';

/** Bytes handed to the socket at once: one write of tens of megabytes holds the event loop while the kernel copies it. */
const CHUNK_BYTES = 1 << 20;

/** The client listed the binary type in Accept. */
export function wantsBinary(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.toLowerCase().includes(BINARY);
}

/** For openapi.yaml; the body itself is checked by whoever decodes it. */
export function binarySchema(description: string) {
  return Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description });
}

/**
 * Accepts application/octet-stream bodies (as one Buffer) of up to
 * `bodyLimit` bytes, in this plugin's routes, copied as they arrive
 * (fastify's own reader joins the chunks at the end, tens of megabytes
 * copied in one go) into a Buffer placed so that the body's byte
 * `valuesAt` (where its float64 values start) is 8-byte aligned: they can
 * then be read in place, not copied.
 */
export function acceptBinaryBodies(app: FastifyInstance, bodyLimit: number, valuesAt = 0): void {
  app.addContentTypeParser(BINARY, { bodyLimit }, (request: FastifyRequest, payload: IncomingMessage) =>
    readBody(payload ?? request.raw, { limit: bodyLimit, alignedAt: valuesAt }),
  );
}

/**
 * A weights frame as a stream: one weights64 section per matrix, its index the
 * connection's position in rule order. The values go out a chunk at a time as
 * views of `w`, a copy the session made for this reply (so a step arriving
 * meanwhile does not change them): the loop runs between chunks, and the
 * frame is never built in one go.
 */
export function weightsStream(w: WeightMatrices): Readable {
  const frame: FrameInput = {
    kind: 'weights',
    step: w.step,
    sections: w.matrices.map((m) => ({ type: 'weights64' as const, index: m.index, rows: m.rows, cols: m.cols, values: m.values })),
  };
  return Readable.from(encodeFrameParts(frame, CHUNK_BYTES), { objectMode: false });
}

/** Where a weights frame's values start (no id, one section): acceptBinaryBodies aligns them. */
export const WEIGHTS_VALUES_AT = HEADER_BYTES + SECTION_HEADER_BYTES;

/**
 * The row-major values of a weights frame with one weights64 section, read
 * in place where they are aligned (a view of `body`: 32 MB of weights need
 * no second copy); throws WEIGHTS_INVALID.
 */
export function decodeWeights(body: Buffer, rows: number, cols: number): Float64Array {
  const fail = (message: string) => new SpikeserveError('WEIGHTS_INVALID', `body: ${message}`, { field: 'body', expected: [rows, cols] });
  let frame;
  try {
    frame = decodeFrame(body, { views: true });
  } catch (e) {
    if (e instanceof BinaryFrameError) throw fail(`${e.message}; send a weights frame as GET .../weights/{connection} with Accept: ${BINARY} returns it`);
    throw e;
  }
  const [s] = frame.sections;
  if (frame.sections.length !== 1 || s.type !== 'weights64') throw fail('must hold exactly one weights64 section');
  if (s.rows !== rows || s.cols !== cols) throw fail(`the section is ${s.rows} x ${s.cols}; this connection is ${rows} x ${cols} (pre.n x post.n)`);
  return s.values;
}

/**
 * A snapshot in binary, the blob the server stores it in, as a stream: its
 * numbers go out a chunk at a time as views of `snap`, a copy the session
 * made for this reply (so a step arriving meanwhile does not change them),
 * and the blob is never built in one go.
 */
export function snapshotStream(snap: TypedSnapshot): Readable {
  return Readable.from(blobViews(planBlob(snap), CHUNK_BYTES), { objectMode: false });
}

/** A binary snapshot back to its JSON form, its vectors as Float64Arrays (checked in full when the session is built); throws SNAPSHOT_INVALID. */
export function decodeSnapshot(body: Buffer): unknown {
  try {
    return decodeBlob(body, { typedKeys: SNAPSHOT_VECTORS });
  } catch (e) {
    if (e instanceof CodecError) throw new SpikeserveError('SNAPSHOT_INVALID', `body: ${e.message}; send a snapshot as GET .../snapshot with Accept: ${BINARY} returns it`, { field: 'body' });
    throw e;
  }
}

/**
 * The largest binary snapshot a session within these limits exports: per
 * neuron v, refrac, traces and a spike; per synapse a weight, MSTDPET's
 * eligibility trace, and at most two more numbers of MSTDP state per synapse
 * (its p_plus, p_minus, e_pre and e_post are per pre and post neuron, and
 * pre.n + post.n <= pre.n * post.n + 1); then the skeleton: the network, at
 * most 2 KiB a population or connection (names of 64 characters, every
 * parameter), and a margin.
 */
export function maxSnapshotBytes(limits: { maxNeurons: number; maxSynapses: number; maxPopulations: number; maxConnections: number }): number {
  const numbers = 4 * limits.maxNeurons + 4 * limits.maxSynapses + 3 * limits.maxConnections;
  return 8 * numbers + 2048 * (limits.maxPopulations + limits.maxConnections) + 64 * 1024;
}
