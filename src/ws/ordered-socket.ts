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
 */
import type { Duplex } from 'node:stream';
import WebSocket, { type RawData } from 'ws';
import { errorBody, type CodedFields } from '../api/errors.js';
import type { MessageId } from '../api/ws.js';
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

/** One request's place in the order of replies. */
export interface Slot {
  out: string | Buffer | null;
  bytes: number;
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

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
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
    return this.slots.length >= this.limits.maxInFlight || this.inFlightBytes >= this.limits.maxPayloadBytes || this.ws.bufferedAmount > this.limits.sendBufferBytes;
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
  protected settle<T>(slot: Slot, type: string, id: MessageId | undefined, p: Promise<T>, encode: (r: T) => string | Buffer, session?: string): void {
    p.then(
      (r) => {
        let out: string | Buffer;
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

  protected fill(slot: Slot, out: string | Buffer): void {
    slot.out = out;
    if (this.slots[0] === slot) this.flush();
  }

  private flush(): void {
    const slots = this.slots;
    while (slots.length > 0 && slots[0].out !== null) {
      const s = slots.shift()!;
      this.inFlightBytes -= s.bytes;
      this.send(s.out!);
    }
    if (slots.length === 0 && this.pendingClose) this.finishClose();
    else this.maybeResume();
  }

  protected send(out: string | Buffer): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
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
    const b = ws.bufferedAmount;
    if (b > this.maxBuffered) this.maxBuffered = b;
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
    this.detached();
  }
}

/** A reply message: `session` names the session of a multiplexed socket's command (absent on a session's own socket). */
export function replyText(request: string, id: MessageId | undefined, result: unknown, session?: string): string {
  // Without a session the object has no such key at all: one less for every reply of a session's own socket.
  return JSON.stringify(session === undefined ? { type: 'reply', id, request, result } : { type: 'reply', id, request, session, result });
}

export function errorText(e: CodedFields, id: MessageId | undefined, request: string | undefined, session?: string): string {
  return JSON.stringify({ type: 'error', id, request, session, error: errorBody(e) });
}
