/**
 * One WebSocket on one session (/v1/sessions/{id}/ws): runs its requests
 * through the session, answered in order and bounded both ways as every
 * socket is (ordered-socket.ts), and sends the stream events its
 * subscriptions ask for. Events are dropped (and counted, and the count
 * reported) while the send buffer is over WS_SEND_BUFFER_BYTES; replies never
 * are.
 */
import type { WeightMatrices } from '../api/state.js';
import type { StepResult } from '../api/step.js';
import type { ClientMessage, ClientMessageType, MessageId, WsFormat, WsRole, WsStream } from '../api/ws.js';
import { COMMAND_TYPES } from '../api/ws.js';
import { SpikeserveError } from '../errors.js';
import type { CloseReason, Session } from '../sessions/manager.js';
import { allWeightsOf, connectionWeightsOf } from '../sessions/views.js';
import { encodeFrame, encodeFrameParts, type SectionInput } from './binary-format.js';
import { parseMessage } from './message-parser.js';
import { OrderedSocket, replyText, type Fragments, type OrderedSocketOptions, type Slot } from './ordered-socket.js';
import type { SessionHub } from './session-hub.js';
import { describeSubscription, makeSubscription, type Subscription } from './subscriptions.js';

export { errorText, type ConnectionLimits, type WsCounters, type WsLog } from './ordered-socket.js';

/** Bytes of a binary reply converted and sent at once, a fragment each. */
const FRAME_PART_BYTES = 1 << 20;

export interface ConnectionOptions extends OrderedSocketOptions {
  hub: SessionHub;
  role: WsRole;
  format: WsFormat;
}

export class WsConnection extends OrderedSocket {
  readonly role: WsRole;
  readonly format: WsFormat;
  readonly session: Session;
  readonly subscriptions = new Map<WsStream, Subscription>();
  private readonly hub: SessionHub;
  private droppedSinceNotice = 0;
  droppedTotal = 0;
  eventsSent = 0;

  constructor(o: ConnectionOptions) {
    super(o);
    this.hub = o.hub;
    this.session = o.hub.session;
    this.role = o.role;
    this.format = o.format;
  }

  logFields(): Record<string, unknown> {
    return { sessionId: this.session.id };
  }

  protected override drained(): void {
    // Events dropped last may have been the session's latest: say so now
    // rather than at the next event, which may never come.
    if (this.droppedSinceNotice > 0 && !this.isClosing) this.sendDroppedNotice();
  }

  protected override stopped(): void {
    this.dropSubscriptions();
  }

  protected override detached(): void {
    this.hub.detach(this);
  }

  protected handleMessage(data: Buffer, isBinary: boolean, slot: Slot): void {
    const parsed = parseMessage(data, isBinary, this.limits.maxJsonDepth);
    if (parsed.ok) this.dispatch(parsed.message, slot);
    else this.fill(slot, this.errorFor(parsed.error, parsed.id, parsed.request));
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
        this.settle(slot, type, id, session.step(msg), (r) => (binary ? this.stepFrame(r, id) : replyText(type, id, r)));
        return;
      }
      case 'reward':
        this.settle(slot, type, id, session.reward(msg.reward), (r) => replyText(type, id, r));
        return;
      case 'reset':
        this.settle(slot, type, id, session.reset({ weights: msg.weights }), (r) => replyText(type, id, r));
        return;
      // Weights replies are of a copy, written in slices: JSON text, or a binary frame.
      case 'weights': {
        const binary = (msg.format ?? this.format) === 'binary';
        const c = msg.connection;
        this.settle(slot, type, id, session.weightMatrices(c), (w) => (binary ? this.weightsFrame(type, w, id) : this.replyInSlices(type, id, c === undefined ? allWeightsOf(w) : connectionWeightsOf(w))));
        return;
      }
      case 'set_weights': {
        const binary = (msg.format ?? this.format) === 'binary';
        this.settle(slot, type, id, session.replaceWeights(msg.connection, msg.weights), (w) => (binary ? this.weightsFrame(type, w, id) : this.replyInSlices(type, id, connectionWeightsOf(w))));
        return;
      }
      case 'snapshot':
        this.settle(slot, type, id, session.snapshotTyped(), (r) => this.replyInSlices(type, id, r));
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

  // ---- stream events ----

  /** False (and the event counted as dropped) when the send buffer is too full to take it. */
  acceptsEvent(): boolean {
    if (this.isClosing) return false;
    if (this.bufferedAmount > this.limits.sendBufferBytes) {
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
    const copies = r.copies;
    if (copies === undefined) {
      if (r.spikes) for (const [p, steps] of Object.entries(r.spikes)) sections.push({ type: 'spikes', index: names.indexOf(p), steps: steps as number[][] });
      if (r.spikeCounts) for (const [p, counts] of Object.entries(r.spikeCounts)) sections.push({ type: 'counts', index: names.indexOf(p), counts: counts as number[] });
      if (r.potentials) for (const [p, values] of Object.entries(r.potentials)) sections.push({ type: 'potentials', index: names.indexOf(p), values: values as number[] });
    } else {
      // A batch: a copy section, then that copy's spikes (or counts) and potentials, for each copy of the reply.
      copies.forEach((copy, q) => {
        sections.push({ type: 'copy', copy });
        // spikes are [steps][copies][indices]: this copy's list of each step.
        if (r.spikes) for (const [p, steps] of Object.entries(r.spikes)) sections.push({ type: 'spikes', index: names.indexOf(p), steps: (steps as number[][][]).map((perCopy) => perCopy[q]) });
        if (r.spikeCounts) for (const [p, counts] of Object.entries(r.spikeCounts)) sections.push({ type: 'counts', index: names.indexOf(p), counts: (counts as number[][])[q] });
        if (r.potentials) for (const [p, values] of Object.entries(r.potentials)) sections.push({ type: 'potentials', index: names.indexOf(p), values: (values as number[][])[q] });
      });
    }
    if (r.weights) for (const [c, w] of Object.entries(r.weights)) sections.push(this.weightSection(c, w));
    return encodeFrame({ kind: 'step', id, step: r.step, steps: r.steps, pending: r.pending, sections });
  }

  /** A weights frame of the copy `w`, float32 converted a part at a time. */
  private weightsFrame(request: ClientMessageType, w: WeightMatrices, id: MessageId | undefined): Fragments {
    const sections: SectionInput[] = w.matrices.map((m) => ({ type: 'weights', index: m.index, rows: m.rows, cols: m.cols, values: m.values }));
    const frame = { kind: 'weights' as const, id, step: w.step, pending: this.session.summary().pending, sections };
    return this.frameInSlices(request, id, encodeFrameParts(frame, FRAME_PART_BYTES), w);
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

  private dropSubscriptions(): void {
    if (this.subscriptions.size === 0) return;
    this.subscriptions.clear();
    this.hub.subscriptionChanged(this);
  }
}
