/**
 * A request's body read whole, with the stream's events (an async iterator
 * costs more than the few chunks most requests have): binary bodies
 * (binary.ts) and requests passed on to the node that owns their session
 * (cluster/pass-on.ts) are read here. Checked as fastify's own reader checks
 * a body: its size against a limit (413 BODY_TOO_LARGE, before a byte is
 * read when content-length says so), its bytes against content-length, and
 * a stream that fails or closes before the end (400 REQUEST_INVALID).
 *
 * A body whose length is announced is copied into memory of that length
 * chunk by chunk as it arrives: joining the chunks at the end copies tens of
 * megabytes in one go, holding the event loop. Only a body without
 * content-length (chunked) is joined at the end.
 */
import type { IncomingMessage } from 'node:http';
import { SpikeserveError } from '../errors.js';

export interface BodyOptions {
  /** Bytes at most; a larger body fails with BODY_TOO_LARGE. */
  limit: number;
  /**
   * Set: the body is copied into memory of its own (never the shared pool,
   * nor a chunk as it came off the socket), placed so that its byte
   * `alignedAt` is 8-byte aligned: float64 values from there on are read in
   * place, and may be kept. Unset: a body that came in one chunk (most
   * requests) is that chunk, not copied.
   */
  alignedAt?: number;
}

export function readBody(stream: IncomingMessage, { limit, alignedAt }: BodyOptions): Promise<Buffer> {
  const declared = Number(stream.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  if (stream.readableEnded) return Promise.resolve(allocate(0, alignedAt));
  const known = Number.isSafeInteger(declared) && declared >= 0;
  return new Promise((resolve, reject) => {
    // With content-length: the body, filled as the chunks arrive; without: the chunks.
    let into: Buffer | null = null;
    const chunks: Buffer[] = [];
    let received = 0;
    const settle = (err: Error | null, body?: Buffer): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (err !== null) reject(err);
      else resolve(body!);
    };
    function onData(chunk: Buffer): void {
      const total = received + chunk.length;
      if (total > limit) return settle(tooLarge(limit));
      if (known && total > declared) return settle(lengthMismatch());
      if (!known) chunks.push(chunk);
      else if (received === 0 && total === declared && alignedAt === undefined) into = chunk;
      else chunk.copy((into ??= allocate(declared, alignedAt)), received);
      received = total;
    }
    function onEnd(): void {
      if (known) {
        if (received !== declared) settle(lengthMismatch());
        else settle(null, into ?? allocate(0, alignedAt));
        return;
      }
      if (chunks.length === 1 && alignedAt === undefined) return settle(null, chunks[0]);
      const body = allocate(received, alignedAt);
      let at = 0;
      for (const c of chunks) at += c.copy(body, at);
      settle(null, body);
    }
    function onError(e: Error): void {
      settle(new SpikeserveError('REQUEST_INVALID', `body: the connection failed before the whole body came (${e.message})`, { field: 'body' }));
    }
    function onClose(): void {
      settle(new SpikeserveError('REQUEST_INVALID', 'body: the connection closed before the whole body came', { field: 'body' }));
    }
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
    stream.resume();
  });
}

/** A Buffer of `length` bytes (to be written in full); with `alignedAt`, memory of its own whose byte `alignedAt` is 8-byte aligned. */
function allocate(length: number, alignedAt: number | undefined): Buffer {
  if (alignedAt === undefined) return Buffer.allocUnsafe(length);
  const shift = (8 - (alignedAt % 8)) % 8;
  // Slow: a memory of its own (never the shared pool), which starts aligned.
  return Buffer.allocUnsafeSlow(shift + length).subarray(shift);
}

function tooLarge(limit: number): SpikeserveError {
  return new SpikeserveError('BODY_TOO_LARGE', `body: larger than the limit of ${limit} bytes`, { max: limit });
}

function lengthMismatch(): SpikeserveError {
  return new SpikeserveError('REQUEST_INVALID', 'body: its length is not what the content-length header says', { field: 'body' });
}
