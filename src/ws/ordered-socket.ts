/**
 * What every WebSocket the server serves does with its requests, whatever it
 * serves (one session, or many): it answers each request in the order it
 * came, whatever order they finish in, and keeps its own memory bounded both
 * ways:
 *
 * - reading: it stops reading the socket (TCP pushes back on the client)
 *   while WS_MAX_IN_FLIGHT requests, or a maximum message's worth of bytes,
 *   wait for their replies, or while its send buffer is over
 *   WS_SEND_BUFFER_BYTES; what was already read waits, unparsed;
 * - writing: past WS_MAX_BUFFERED_BYTES the peer has stopped reading and is
 *   closed (4413).
 *
 * Replies are never dropped: a request the server read is always answered
 * while the socket is open. A subclass parses and runs the requests
 * (`handleMessage`), filling each one's slot with its reply.
 *
 * A reply of millions of numbers (a large session's snapshot or weights as
 * JSON, its weights as a binary frame) is written in slices and sent as the
 * fragments of one message, the next slice written once the peer has read
 * the last below WS_SEND_BUFFER_BYTES: built in one go, it would hold the
 * event loop for seconds. Until its last fragment is out, nothing else is
 * sent on the socket but control frames: the replies after it, and the
 * stream events and notices meanwhile, wait, in order.
 */
import type { Duplex } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import WebSocket, { type RawData } from 'ws';
import { errorBody, type CodedFields } from '../api/errors.js';
import type { MessageId } from '../api/ws.js';
import { jsonSlices } from '../api/json-slices.js';
import { isSpikeserveError, SpikeserveError, type ErrorCode } from '../errors.js';
import { closeCodeFor, closeReason } from './close-codes.js';
import { TokenBucket } from './rate-limiter.js';

export interface ConnectionLimits {
  maxPayloadBytes: number;
  sendBufferBytes: number;
  maxBufferedBytes: number;
  maxInFlight: number;
  rateLimitPerS: number;
  rateBurst: number;
  /** Nesting depth of a JSON message, checked before it is parsed. */
  maxJsonDepth: number;
}

/** The subset of a pino logger a connection uses. */
export interface WsLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Counters over every socket of a server, for tests and metrics. */
export interface WsCounters {
  eventsSent: number;
  eventsDropped: number;
  messagesReceived: number;
  closedSlow: number;
  closedDead: number;
}

/** Corked writes are let out once this many bytes wait. */
const FLUSH_BYTES = 64 * 1024;

/** How long a socket may take to answer our close frame before it is cut. */
const CLOSE_GRACE_MS = 2000;

/** Sending fragments this long without a pause lets the event loop run before the next. */
const SEND_SLICE_MS = 4;

/** A reply a slice at a time, to go out as the fragments of one message: JSON text (strings) or a binary frame (buffers). */
export class Fragments {
  constructor(
    readonly chunks: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
    /** The error reply to send instead if writing fails before any of it was sent. */
    readonly failed: (e: unknown) => string,
    /** The memory it holds until written (its typed arrays), counted as bytes waiting for the peer. */
    readonly bytes: number,
  ) {}
}

/** Bytes of the typed arrays in `v`, which a reply written in slices holds until it is out. */
function typedBytes(v: unknown): number {
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (v === null || typeof v !== 'object') return 0;
  let n = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (x !== null && typeof x === 'object') n += typedBytes(x);
  return n;
}

function sizeOf(out: string | Buffer | Fragments): number {
  return out instanceof Fragments ? out.bytes : typeof out === 'string' ? out.length : out.length;
}

/** One request's place in the order of replies. */
export interface Slot {
  out: string | Buffer | Fragments | null;
  bytes: number;
  /** Its reply's size, while it waits behind a reply going out in fragments. */
  queued?: number;
}

export interface OrderedSocketOptions {
  id: string;
  ws: WebSocket;
  socket: Duplex;
  limits: ConnectionLimits;
  log: WsLog;
  counters: WsCounters;
  /** Called with the code of every error reply (metrics). */
  onError?: (code: ErrorCode) => void;
}

export abstract class OrderedSocket {
  readonly id: string;
  /** Cleared by the heartbeat, set by a pong or any message. */
  alive = true;
  protected readonly ws: WebSocket;
  protected readonly socket: Duplex;
  protected readonly limits: ConnectionLimits;
  protected readonly log: WsLog;
  protected readonly counters: WsCounters;
  protected readonly onError: (code: ErrorCode) => void;
  private readonly bucket: TokenBucket | null;
  private readonly slots: Slot[] = [];
  private inFlightBytes = 0;
  private paused = false;
  private resuming = false;
  private readonly deferred: { data: RawData; isBinary: boolean }[] = [];
  protected closing = false;
  private aborted = false;
  private closeTimer: NodeJS.Timeout | null = null;
  private pendingClose: { code: number; reason: string } | null = null;
  private corked = false;
  /** A reply is going out in fragments: everything else waits in `held`. */
  private streaming = false;
  private readonly held: (string | Buffer)[] = [];
  private heldBytes = 0;
  /** Replies ready behind the one going out in fragments (their `queued`). */
  private queuedBytes = 0;
  /** Wakes the fragments' writer when the send buffer drains or the socket closes. */
  private wake: (() => void) | null = null;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };
  /** The most bytes seen waiting in the send buffer right after a send. */
  maxBuffered = 0;

  constructor(o: OrderedSocketOptions) {
    ({ id: this.id, ws: this.ws, socket: this.socket, limits: this.limits, log: this.log, counters: this.counters } = o);
    this.onError = o.onError ?? (() => {});
    this.bucket = o.limits.rateLimitPerS > 0 ? new TokenBucket(o.limits.rateLimitPerS, o.limits.rateBurst) : null;
    this.ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on('pong', () => (this.alive = true));
    this.socket.on('drain', () => {
      this.wake?.();
      this.drained();
      this.maybeResume();
    });
  }

  /** Parses one request and runs it; its reply goes into `slot` (fill or settle). */
  protected abstract handleMessage(data: Buffer, isBinary: boolean, slot: Slot): void;

  /** What the log says of this socket (its session, its kind). */
  abstract logFields(): Record<string, unknown>;

  /** The send buffer drained (a hook: the session socket reports dropped events then). */
  protected drained(): void {}

  /** The socket takes no more requests (a hook: the session socket drops its subscriptions). */
  protected stopped(): void {}

  /** The socket is closed (a hook: the session socket leaves its session). */
  protected detached(): void {}

  /** Bytes waiting to go out: in the send buffer, and held behind a reply going out in fragments. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount + this.heldBytes;
  }

  get inFlight(): number {
    return this.slots.length;
  }

  /** Messages read while paused, waiting to be handled. */
  get deferredCount(): number {
    return this.deferred.length;
  }

  /** Closing or closed, by either side: it takes no more requests. */
  get isClosing(): boolean {
    return this.closing || this.ws.readyState !== WebSocket.OPEN;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  // ---- requests and replies ----

  private onMessage(data: RawData, isBinary: boolean): void {
    this.alive = true;
    // A request is run only while its reply can still go out: once the
    // socket closes, what ran is exactly what was read before, and the next
    // controller's hello counts all of it (resuming depends on that).
    if (this.isClosing) return;
    // Pausing stops the socket, but ws still hands over what it had already
    // read: hold that (at most a read's worth) until the replies drain.
    if (this.paused) this.deferred.push({ data, isBinary });
    else this.handle(data, isBinary);
  }

  private handle(data: RawData, isBinary: boolean): void {
    this.counters.messagesReceived++;
    const bytes = Array.isArray(data) ? data.reduce((a, b) => a + b.length, 0) : data instanceof ArrayBuffer ? data.byteLength : data.length;
    const slot: Slot = { out: null, bytes };
    this.slots.push(slot);
    this.inFlightBytes += bytes;
    const wait = this.bucket ? this.bucket.take() : 0;
    if (wait > 0) {
      // Neither parsed nor given an Error (whose stack costs more than a
      // step): refusing must cost less than serving.
      const limit = this.limits.rateLimitPerS;
      this.onError('RATE_LIMITED');
      const message = `more than ${limit} messages a second on this connection (WS_RATE_LIMIT_PER_S, burst WS_RATE_BURST); this message was not run, retry in ${wait} ms`;
      this.fill(slot, errorText({ code: 'RATE_LIMITED', message, details: { limit: 'rateLimitPerS', max: limit, retryAfterMs: wait } }, undefined, undefined));
    } else {
      this.handleMessage(data as Buffer, isBinary, slot);
    }
    if (!this.paused && this.mustPause()) {
      this.paused = true;
      this.ws.pause();
    }
  }

  private mustPause(): boolean {
    return this.slots.length >= this.limits.maxInFlight || this.inFlightBytes >= this.limits.maxPayloadBytes || this.bufferedAmount > this.limits.sendBufferBytes;
  }

  private maybeResume(): void {
    if (!this.paused || this.isClosing || this.resuming || this.mustPause()) return;
    this.paused = false;
    this.resuming = true;
    // What arrived while paused goes first, in order; any of it may pause again.
    while (!this.paused && !this.isClosing && this.deferred.length > 0) {
      const m = this.deferred.shift()!;
      this.handle(m.data, m.isBinary);
    }
    this.resuming = false;
    if (!this.paused) this.ws.resume();
  }

  /** Fills `slot` with what `p` settles to: `encode(result)`, or the error reply (about `session`, when given). */
  protected settle<T>(slot: Slot, type: string, id: MessageId | undefined, p: Promise<T>, encode: (r: T) => string | Buffer | Fragments, session?: string): void {
    p.then(
      (r) => {
        let out: string | Buffer | Fragments;
        try {
          out = encode(r);
        } catch (e) {
          out = this.errorFor(e, id, type, session);
        }
        this.fill(slot, out);
      },
      (e) => this.fill(slot, this.errorFor(e, id, type, session)),
    );
  }

  /** The error reply for `e`: its own code, or INTERNAL_ERROR (logged) for anything but a SpikeserveError. */
  protected errorFor(e: unknown, id: MessageId | undefined, type: string | undefined, session?: string): string {
    return errorText(this.coded(e, type, session), id, type, session);
  }

  /** `e` as the client may see it (counted for metrics); anything but a SpikeserveError is logged and becomes INTERNAL_ERROR. */
  protected coded(e: unknown, type: string | undefined, session?: string): CodedFields {
    if (isSpikeserveError(e)) {
      this.onError(e.code);
      return e;
    }
    this.onError('INTERNAL_ERROR');
    this.log.error({ err: e, ...this.logFields(), connectionId: this.id, request: type, ...(session === undefined ? {} : { sessionId: session }) }, 'websocket request failed');
    return new SpikeserveError('INTERNAL_ERROR', `internal error: please report connection id ${this.id}; the details are in the server log`, { connectionId: this.id });
  }

  /** The reply message replyText writes, as Fragments: its JSON text written in slices. */
  protected replyInSlices(request: string, id: MessageId | undefined, result: unknown, session?: string): Fragments {
    return new Fragments(jsonSlices(replyBody(request, id, result, session)), (e) => this.errorFor(e, id, request, session), typedBytes(result));
  }

  /** A binary reply frame as Fragments, its parts made one at a time (encodeFrameParts) from `held`, the typed arrays it is written from. */
  protected frameInSlices(request: string, id: MessageId | undefined, parts: Iterable<Buffer>, held: unknown): Fragments {
    return new Fragments(parts, (e) => this.errorFor(e, id, request), typedBytes(held));
  }

  protected fill(slot: Slot, out: string | Buffer | Fragments): void {
    slot.out = out;
    if (this.streaming) {
      // Waiting behind a reply the peer reads slowly: a peer that stopped reading is cut once what waits passes WS_MAX_BUFFERED_BYTES.
      slot.queued = sizeOf(out);
      this.queuedBytes += slot.queued;
      if (this.ws.bufferedAmount + this.heldBytes + this.queuedBytes > this.limits.maxBufferedBytes) this.abort();
      return;
    }
    if (this.slots[0] === slot) this.flush();
  }

  /** Takes the head slot off the queue. */
  private shiftSlot(): Slot {
    const s = this.slots.shift()!;
    this.inFlightBytes -= s.bytes;
    this.queuedBytes -= s.queued ?? 0;
    return s;
  }

  private flush(): void {
    const slots = this.slots;
    while (!this.streaming && slots.length > 0 && slots[0].out !== null) {
      const out = slots[0].out;
      if (out instanceof Fragments) {
        this.queuedBytes -= slots[0].queued ?? 0;
        slots[0].queued = 0;
        void this.sendFragments(slots[0], out);
        return;
      }
      this.shiftSlot();
      this.send(out);
    }
    if (this.streaming) return;
    if (slots.length === 0 && this.pendingClose) this.finishClose();
    else this.maybeResume();
  }

  /**
   * Sends `f` as one message, a fragment per chunk (each sent once the next
   * is written, the last with fin), waiting while the send buffer is over
   * WS_SEND_BUFFER_BYTES, and letting the event loop run every slice of
   * work while the peer reads fast; then what was held meanwhile, then the
   * next replies.
   */
  private async sendFragments(slot: Slot, f: Fragments): Promise<void> {
    this.streaming = true;
    const ws = this.ws;
    let last: string | Buffer | null = null;
    let sent = false;
    let sliceEnd = performance.now() + SEND_SLICE_MS;
    try {
      for await (const chunk of f.chunks) {
        if (ws.readyState !== WebSocket.OPEN) break;
        if (last !== null) {
          ws.send(last, { fin: false });
          sent = true;
          this.noteBuffered();
          if (ws.bufferedAmount > this.limits.sendBufferBytes) {
            while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > this.limits.sendBufferBytes) await new Promise<void>((r) => (this.wake = r));
            this.wake = null;
            sliceEnd = performance.now() + SEND_SLICE_MS;
          } else if (performance.now() >= sliceEnd) {
            await yieldToLoop();
            sliceEnd = performance.now() + SEND_SLICE_MS;
          }
          if (ws.readyState !== WebSocket.OPEN) break;
        }
        last = chunk;
      }
      if (ws.readyState === WebSocket.OPEN) ws.send(last ?? '', { fin: true });
    } catch (e) {
      if (!sent) {
        if (ws.readyState === WebSocket.OPEN) ws.send(f.failed(e));
      } else {
        // Part of the message is out: the peer can only be told by closing.
        this.coded(e, undefined);
        this.closing = true;
        this.stopped();
        ws.close(closeCodeFor('INTERNAL_ERROR'), closeReason('INTERNAL_ERROR', `internal error: please report connection id ${this.id}`));
        this.armCloseTimer();
      }
    }
    this.noteBuffered();
    this.streaming = false;
    if (this.slots[0] === slot) this.shiftSlot();
    const held = this.held.splice(0);
    this.heldBytes = 0;
    for (const out of held) this.send(out);
    this.flush();
  }

  private noteBuffered(): void {
    const b = this.ws.bufferedAmount;
    if (b > this.maxBuffered) this.maxBuffered = b;
  }

  protected send(out: string | Buffer): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (this.streaming) {
      this.held.push(out);
      this.heldBytes += typeof out === 'string' ? Buffer.byteLength(out) : out.length;
      return;
    }
    if (ws.bufferedAmount > this.limits.maxBufferedBytes) {
      this.abort();
      return;
    }
    // Everything sent in this turn of the event loop (the replies to a batch
    // of pipelined requests, a step's events) leaves in one write: a system
    // call per frame would cost more than the step.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    ws.send(out);
    // A long step's events would all wait for the end of its slice: let
    // them out a batch at a time, for the kernel to take while it runs.
    if (this.corked && this.socket.writableLength >= FLUSH_BYTES) {
      this.socket.uncork();
      this.socket.cork();
    }
    this.noteBuffered();
  }

  // ---- closing ----

  /** Stops reading, lets the replies to what was read go out, then closes with the code for `code`. */
  closeAfterReplies(code: ErrorCode, message: string): void {
    if (this.closing) return;
    this.closing = true;
    this.pendingClose = { code: closeCodeFor(code), reason: closeReason(code, message) };
    this.stopped();
    if (this.slots.length === 0) this.finishClose();
  }

  private finishClose(): void {
    const c = this.pendingClose!;
    this.pendingClose = null;
    this.ws.close(c.code, c.reason);
    this.armCloseTimer();
  }

  /** The peer stopped reading: nothing queued for it can get through, so cut it. */
  private abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.closing = true;
    this.pendingClose = null;
    this.counters.closedSlow++;
    const max = this.limits.maxBufferedBytes;
    this.log.warn({ ...this.logFields(), connectionId: this.id, bufferedBytes: this.ws.bufferedAmount, max }, 'websocket closed: peer stopped reading');
    this.stopped();
    this.wake?.();
    this.ws.close(closeCodeFor('WS_BUFFER_EXCEEDED'), closeReason('WS_BUFFER_EXCEEDED', `more than ${max} bytes waiting to be read (WS_MAX_BUFFERED_BYTES)`));
    // The close frame waits behind everything the peer did not read: give it a moment, then cut.
    this.armCloseTimer(200);
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  /** The heartbeat found the peer dead. */
  terminate(): void {
    this.closing = true;
    this.counters.closedDead++;
    this.stopped();
    this.ws.terminate();
  }

  private armCloseTimer(ms = CLOSE_GRACE_MS): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => this.ws.terminate(), ms);
    this.closeTimer.unref();
  }

  /** Called once the socket is closed, however that happened. */
  closed(): void {
    this.closing = true;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.slots.length = 0;
    this.deferred.length = 0;
    this.held.length = 0;
    this.heldBytes = 0;
    this.queuedBytes = 0;
    this.wake?.();
    this.detached();
  }
}

/** A reply message: `session` names the session of a multiplexed socket's command (absent on a session's own socket). */
export function replyText(request: string, id: MessageId | undefined, result: unknown, session?: string): string {
  return JSON.stringify(replyBody(request, id, result, session));
}

function replyBody(request: string, id: MessageId | undefined, result: unknown, session?: string): object {
  // Without a session the object has no such key at all: one less for every reply of a session's own socket.
  return session === undefined ? { type: 'reply', id, request, result } : { type: 'reply', id, request, session, result };
}

export function errorText(e: CodedFields, id: MessageId | undefined, request: string | undefined, session?: string): string {
  return JSON.stringify({ type: 'error', id, request, session, error: errorBody(e) });
}
