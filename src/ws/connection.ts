/**
 * One WebSocket on one session: reads requests, runs them through the
 * session, and answers each in the order it came, whatever order they finish
 * in; sends the stream events its subscriptions ask for; and keeps its own
 * memory bounded both ways:
 *
 * - reading: it stops reading the socket (TCP pushes back on the client)
 *   while WS_MAX_IN_FLIGHT requests, or a maximum message's worth of bytes,
 *   wait for their replies, or while its send buffer is over
 *   WS_SEND_BUFFER_BYTES; what was already read waits, unparsed;
 * - writing: stream events are dropped (and counted, and the count reported)
 *   while the send buffer is over WS_SEND_BUFFER_BYTES; past
 *   WS_MAX_BUFFERED_BYTES the peer has stopped reading and is closed (4413).
 *
 * Replies are never dropped: a request the server read is always answered
 * while the socket is open.
 */
import type { Duplex } from 'node:stream';
import WebSocket, { type RawData } from 'ws';
import type { ConnectionWeights, AllWeights } from '../api/state.js';
import type { StepResult } from '../api/step.js';
import type { ClientMessage, ClientMessageType, MessageId, WsFormat, WsRole, WsStream } from '../api/ws.js';
import { COMMAND_TYPES } from '../api/ws.js';
import { errorBody, type CodedFields } from '../api/errors.js';
import { isSpikeserveError, SpikeserveError, type ErrorCode } from '../errors.js';
import type { CloseReason, Session } from '../sessions/manager.js';
import { encodeFrame, type SectionInput } from './binary-format.js';
import { closeCodeFor, closeReason } from './close-codes.js';
import { parseMessage } from './message-parser.js';
import { TokenBucket } from './rate-limiter.js';
import type { SessionHub } from './session-hub.js';
import { describeSubscription, makeSubscription, type Subscription } from './subscriptions.js';

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

interface Slot {
  out: string | Buffer | null;
  bytes: number;
}

export interface ConnectionOptions {
  id: string;
  ws: WebSocket;
  socket: Duplex;
  hub: SessionHub;
  role: WsRole;
  format: WsFormat;
  limits: ConnectionLimits;
  log: WsLog;
  counters: WsCounters;
  /** Called with the code of every error reply (metrics). */
  onError?: (code: ErrorCode) => void;
}

export class WsConnection {
  readonly id: string;
  readonly role: WsRole;
  readonly format: WsFormat;
  readonly session: Session;
  readonly subscriptions = new Map<WsStream, Subscription>();
  /** Cleared by the heartbeat, set by a pong or any message. */
  alive = true;
  private readonly ws: WebSocket;
  private readonly socket: Duplex;
  private readonly hub: SessionHub;
  private readonly limits: ConnectionLimits;
  private readonly log: WsLog;
  private readonly counters: WsCounters;
  private readonly onError: (code: ErrorCode) => void;
  private readonly bucket: TokenBucket | null;
  private readonly slots: Slot[] = [];
  private inFlightBytes = 0;
  private paused = false;
  private resuming = false;
  private readonly deferred: { data: RawData; isBinary: boolean }[] = [];
  private closing = false;
  private aborted = false;
  private closeTimer: NodeJS.Timeout | null = null;
  private pendingClose: { code: number; reason: string } | null = null;
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };
  private droppedSinceNotice = 0;
  droppedTotal = 0;
  eventsSent = 0;
  /** The most bytes seen waiting in the send buffer right after a send. */
  maxBuffered = 0;

  constructor(o: ConnectionOptions) {
    this.id = o.id;
    this.ws = o.ws;
    this.socket = o.socket;
    this.hub = o.hub;
    this.session = o.hub.session;
    this.role = o.role;
    this.format = o.format;
    this.limits = o.limits;
    this.log = o.log;
    this.counters = o.counters;
    this.onError = o.onError ?? (() => {});
    this.bucket = o.limits.rateLimitPerS > 0 ? new TokenBucket(o.limits.rateLimitPerS, o.limits.rateBurst) : null;
    this.ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on('pong', () => (this.alive = true));
    this.socket.on('drain', () => {
      // Events dropped last may have been the session's latest: say so now
      // rather than at the next event, which may never come.
      if (this.droppedSinceNotice > 0 && !this.closing && this.ws.readyState === WebSocket.OPEN) this.sendDroppedNotice();
      this.maybeResume();
    });
  }

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
      const parsed = parseMessage(data as Buffer, isBinary, this.limits.maxJsonDepth);
      if (parsed.ok) this.dispatch(parsed.message, slot);
      else this.fill(slot, this.errorFor(parsed.error, parsed.id, parsed.request));
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

  private dispatch(msg: ClientMessage, slot: Slot): void {
    const id = msg.id;
    const type = msg.type;
    if (this.role === 'observer' && COMMAND_TYPES.has(type)) {
      this.fill(slot, this.errorFor(new SpikeserveError('WS_READ_ONLY', `${type}: an observer cannot change the session; only its controller (?role=controller) can`), id, type));
      return;
    }
    const session = this.session;
    switch (msg.type) {
      case 'step': {
        const binary = (msg.format ?? this.format) === 'binary';
        if (binary && session.copies > 1) {
          // Checked before the step runs: a binary frame's sections have no copy dimension.
          const e = new SpikeserveError('INPUT_INVALID', 'format: binary step replies carry one copy, and this network is a batch: ask for "format": "json" on this message or the socket', { field: 'format' });
          this.settle(slot, type, id, Promise.reject(e), () => '');
          return;
        }
        this.settle(slot, type, id, session.step(msg), (r) => (binary ? this.stepFrame(r, id) : replyText(type, id, r)));
        return;
      }
      case 'reward':
        this.settle(slot, type, id, session.reward(msg.reward), (r) => replyText(type, id, r));
        return;
      case 'reset':
        this.settle(slot, type, id, session.reset({ weights: msg.weights }), (r) => replyText(type, id, r));
        return;
      case 'weights': {
        const binary = (msg.format ?? this.format) === 'binary';
        const p = msg.connection === undefined ? session.allWeights() : session.weights(msg.connection);
        this.settle(slot, type, id, p as Promise<AllWeights | ConnectionWeights>, (r) => (binary ? this.weightsFrame(r, id) : replyText(type, id, r)));
        return;
      }
      case 'set_weights': {
        const binary = (msg.format ?? this.format) === 'binary';
        this.settle(slot, type, id, session.setWeights(msg.connection, msg.weights), (r) => (binary ? this.weightsFrame(r, id) : replyText(type, id, r)));
        return;
      }
      case 'snapshot':
        this.settle(slot, type, id, session.snapshot(), (r) => replyText(type, id, r));
        return;
      case 'subscribe':
        this.inOrder(slot, type, id, () => {
          const sub = makeSubscription(session, msg, this.format);
          this.subscriptions.set(sub.stream, sub);
          this.hub.subscriptionChanged(this);
          return describeSubscription(sub);
        });
        return;
      case 'unsubscribe':
        this.inOrder(slot, type, id, () => {
          const streams = msg.stream === undefined ? [...this.subscriptions.keys()] : this.subscriptions.has(msg.stream) ? [msg.stream] : [];
          for (const s of streams) this.subscriptions.delete(s);
          this.hub.subscriptionChanged(this);
          return { streams, dropped: this.droppedTotal };
        });
        return;
    }
  }

  /**
   * Runs a change of this socket's own state after the session's queued
   * commands, as if it were one of them: a subscription sent after a step
   * starts with the step after it.
   */
  private inOrder<T>(slot: Slot, type: ClientMessageType, id: MessageId | undefined, change: () => T): void {
    const run = () => {
      if (this.session.closed) throw this.session.notFound();
      return change();
    };
    if (!this.session.busy) {
      try {
        this.fill(slot, replyText(type, id, run()));
      } catch (e) {
        this.fill(slot, this.errorFor(e, id, type));
      }
      return;
    }
    this.settle(
      slot,
      type,
      id,
      this.session.drained().then(() => run()),
      (r) => replyText(type, id, r),
    );
  }

  private settle<T>(slot: Slot, type: ClientMessageType, id: MessageId | undefined, p: Promise<T>, encode: (r: T) => string | Buffer): void {
    p.then(
      (r) => {
        let out: string | Buffer;
        try {
          out = encode(r);
        } catch (e) {
          out = this.errorFor(e, id, type);
        }
        this.fill(slot, out);
      },
      (e) => this.fill(slot, this.errorFor(e, id, type)),
    );
  }

  private errorFor(e: unknown, id: MessageId | undefined, type: ClientMessageType | undefined): string {
    if (isSpikeserveError(e)) {
      this.onError(e.code);
      return errorText(e, id, type);
    }
    this.onError('INTERNAL_ERROR');
    this.log.error({ err: e, sessionId: this.session.id, connectionId: this.id, request: type }, 'websocket request failed');
    return errorText(
      new SpikeserveError('INTERNAL_ERROR', `internal error: please report connection id ${this.id}; the details are in the server log`, { connectionId: this.id }),
      id,
      type,
    );
  }

  private fill(slot: Slot, out: string | Buffer): void {
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

  private send(out: string | Buffer): void {
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

  // ---- stream events ----

  /** False (and the event counted as dropped) when the send buffer is too full to take it. */
  acceptsEvent(): boolean {
    if (this.closing || this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.ws.bufferedAmount > this.limits.sendBufferBytes) {
      this.droppedSinceNotice++;
      this.droppedTotal++;
      this.counters.eventsDropped++;
      return false;
    }
    return true;
  }

  sendEvent(frame: string | Buffer): void {
    if (this.droppedSinceNotice > 0) this.sendDroppedNotice();
    this.send(frame);
    this.eventsSent++;
    this.counters.eventsSent++;
  }

  /** `step`: the session's step count as the notice leaves, so a reader that lost the latest events still learns where the session is. */
  private sendDroppedNotice(): void {
    this.send(`{"type":"dropped","count":${this.droppedSinceNotice},"total":${this.droppedTotal},"step":${this.session.stepCount}}`);
    this.droppedSinceNotice = 0;
  }

  // ---- binary replies ----

  private stepFrame(r: StepResult, id: MessageId | undefined): Buffer {
    const names = this.session.populationNames;
    const sections: SectionInput[] = [];
    // One copy here: a batch's step asks for JSON replies (checked before it runs).
    if (r.spikes) for (const [p, steps] of Object.entries(r.spikes)) sections.push({ type: 'spikes', index: names.indexOf(p), steps: steps as number[][] });
    if (r.spikeCounts) for (const [p, counts] of Object.entries(r.spikeCounts)) sections.push({ type: 'counts', index: names.indexOf(p), counts: counts as number[] });
    if (r.potentials) for (const [p, values] of Object.entries(r.potentials)) sections.push({ type: 'potentials', index: names.indexOf(p), values: values as number[] });
    if (r.weights) for (const [c, w] of Object.entries(r.weights)) sections.push(this.weightSection(c, w));
    return encodeFrame({ kind: 'step', id, step: r.step, steps: r.steps, pending: r.pending, sections });
  }

  private weightsFrame(r: AllWeights | ConnectionWeights, id: MessageId | undefined): Buffer {
    const sections: SectionInput[] = [];
    if ('connection' in r) sections.push(this.weightSection(r.connection, r.weights));
    else for (const [c, w] of Object.entries(r.weights)) sections.push(this.weightSection(c, w));
    return encodeFrame({ kind: 'weights', id, step: r.step, pending: this.session.summary().pending, sections });
  }

  private weightSection(connection: string, w: number[][]): SectionInput {
    const [rows, cols] = this.session.shapeOf(connection);
    return { type: 'weights', index: this.session.connectionNames.indexOf(connection), rows, cols, values: w };
  }

  // ---- closing ----

  /** The session went away: answer what was read (each gets SESSION_NOT_FOUND or its result), then close. */
  sessionClosed(reason: CloseReason): void {
    if (reason === 'shutdown') this.closeAfterReplies('SHUTTING_DOWN', 'the server is shutting down');
    else if (reason === 'evicted') this.closeAfterReplies('SESSION_NOT_FOUND', `session evicted after being idle`);
    else if (reason === 'hibernated') this.closeAfterReplies('SESSION_NOT_FOUND', `session moved to disk; connect again to load it`);
    else this.closeAfterReplies('SESSION_NOT_FOUND', `session deleted`);
  }

  /** Stops reading, lets the replies to what was read go out, then closes with the code for `code`. */
  closeAfterReplies(code: ErrorCode, message: string): void {
    if (this.closing) return;
    this.closing = true;
    this.pendingClose = { code: closeCodeFor(code), reason: closeReason(code, message) };
    this.dropSubscriptions();
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
    this.log.warn({ sessionId: this.session.id, connectionId: this.id, bufferedBytes: this.ws.bufferedAmount, max }, 'websocket closed: peer stopped reading');
    this.dropSubscriptions();
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
    this.dropSubscriptions();
    this.ws.terminate();
  }

  private armCloseTimer(ms = CLOSE_GRACE_MS): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => this.ws.terminate(), ms);
    this.closeTimer.unref();
  }

  private dropSubscriptions(): void {
    if (this.subscriptions.size === 0) return;
    this.subscriptions.clear();
    this.hub.subscriptionChanged(this);
  }

  /** Called once the socket is closed, however that happened. */
  closed(): void {
    this.closing = true;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.slots.length = 0;
    this.deferred.length = 0;
    this.hub.detach(this);
  }
}

function replyText(request: ClientMessageType, id: MessageId | undefined, result: unknown): string {
  return JSON.stringify({ type: 'reply', id, request, result });
}

export function errorText(e: CodedFields, id: MessageId | undefined, request: ClientMessageType | undefined): string {
  return JSON.stringify({ type: 'error', id, request, error: errorBody(e) });
}
