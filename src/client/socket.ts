/**
 * A typed client for a session's WebSocket (docs/websocket.md).
 *
 * Every request returns a promise of its reply; requests may be sent without
 * waiting (pipelining), and since the server answers in request order, the
 * client matches replies first in, first out. Binary replies and events are
 * decoded into the same shapes as the JSON ones (weights and potentials then
 * hold float32 values), so code using the client does not care which format
 * the connection speaks.
 *
 * A socket that drops (the server shutting down, its session moving to
 * another node of a cluster, a network cut) is opened again by itself and
 * resumes in order (resume.ts): a command whose reply came ran; of those
 * unanswered, the ones the new hello shows ran fail with COMMAND_LOST
 * (details.applied true), the rest are sent again, in order.
 */
import WebSocket from 'ws';
import type { AllWeights, ConnectionWeights } from '../api/state.js';
import type { ResetBody, ResetResult, RewardResult, StepBody, StepResult } from '../api/step.js';
import type {
  ClientMessageType,
  DroppedNotice,
  HelloMessage,
  PotentialsEvent,
  RewardEvent,
  SpikesEvent,
  Subscribed,
  SubscribeMessage,
  Unsubscribed,
  WeightsEvent,
  WsFormat,
  WsRole,
  WsStream,
} from '../api/ws.js';
import type { Snapshot } from '../engine/snapshot.js';
import { decodeFrame, type DecodedFrame } from '../ws/binary-format.js';
import { potentialsEventOf, rewardEventOf, spikesEventOf, stepResultOf, weightsOf } from './frames.js';
import { gaveUp, mayReconnect, reopen } from './reconnect.js';
import { commandLost, fates, MUTATING, type SessionPoint } from './resume.js';
import { SocketLifecycle, type QueuedRequest } from './socket-lifecycle.js';
import { openSocket, settle, type CloseInfo, type JsonAnswer, type OpenOptions } from './transport.js';

export type { CloseInfo } from './transport.js';

export interface SocketOptions extends OpenOptions {
  /** controller (default) steps the session; observer only watches it. */
  role?: WsRole;
  /** The format of replies and events unless a request says otherwise; default json. */
  format?: WsFormat;
  /**
   * Open the socket again when it drops, and resume (default true): up to
   * 8 tries over about 6 s, unless the close says a new socket would be
   * refused the same way (4400, 4401, 4403, 4404, 4422, 1002, 1007, 1009).
   * With false, a drop fails every request waiting.
   */
  reconnect?: boolean;
}

export type SocketEvents = {
  spikes: (e: SpikesEvent) => void;
  potentials: (e: PotentialsEvent) => void;
  weights: (e: WeightsEvent) => void;
  /** The rewards stream (subscribe to `rewards`): one event per reward a learning update used. */
  reward: (e: RewardEvent) => void;
  dropped: (e: DroppedNotice) => void;
  /** The socket dropped (`e`: how) and was opened again; the commands in flight resumed. */
  reconnect: (e: CloseInfo) => void;
  /** Closed for good. */
  close: (e: CloseInfo) => void;
};

interface Pending extends QueuedRequest {
  request: ClientMessageType;
  /** A step's steps and deferReward (what resuming replays). */
  steps: number;
  defer: boolean;
  resolve: (v: never) => void;
}

type Format = { format?: WsFormat };

export class SessionSocket extends SocketLifecycle<Pending, HelloMessage> {
  /** (step, pending) after the last acknowledged command that changes the session. */
  private acked: SessionPoint;
  /** The streams subscribed to, renewed after a reconnection. */
  private readonly subscriptions = new Map<WsStream, Omit<SubscribeMessage, 'type' | 'id'>>();
  private readonly listeners: { [E in keyof SocketEvents]: Set<SocketEvents[E]> } = {
    spikes: new Set(),
    potentials: new Set(),
    weights: new Set(),
    reward: new Set(),
    dropped: new Set(),
    reconnect: new Set(),
    close: new Set(),
  };

  private constructor(
    ws: WebSocket,
    hello: HelloMessage,
    private readonly url: URL,
    private readonly options: SocketOptions,
  ) {
    super(ws, hello);
    this.acked = { step: hello.session.step, pending: hello.session.pending };
  }

  protected override onClose(info: CloseInfo): void {
    if (this.closing || this.options.reconnect === false || !mayReconnect(info.code)) return this.finish(info);
    void this.recover(info);
  }

  /** Closed for good: the close is told. */
  protected override closedForGood(info: CloseInfo): void {
    this.emit('close', info);
  }

  /** Opens the socket again (reconnect.ts), resumes the commands in flight, or gives up. */
  private async recover(info: CloseInfo): Promise<void> {
    this.recovering = true;
    const opened = await reopen<HelloMessage>(this.url, this.options, () => this.closing);
    this.recovering = false;
    if ('failure' in opened) return this.finish(gaveUp(info, opened.failure));
    this.reconnects++;
    this.ws = opened.ws;
    this.currentHello = opened.hello;
    this.resumeAfterDrop({ step: opened.hello.session.step, pending: opened.hello.session.pending });
    this.attach(opened.ws);
    this.emit('reconnect', info);
  }

  /** After a reconnection: fails the commands that ran without a reply, renews the subscriptions, sends the rest again in order. */
  private resumeAfterDrop(observed: SessionPoint): void {
    const waiting = this.pending.takeAll();
    const unanswered = waiting.filter((p) => p.sent);
    const verdicts = fates(unanswered, this.acked, observed);
    const again: Pending[] = [];
    unanswered.forEach((p, i) => {
      const v = verdicts[i];
      if (v === 'resend') again.push(p);
      else p.reject(commandLost(p.request, v.lost));
    });
    this.acked = observed;
    const renewals = [...this.subscriptions.values()].map((sub) => this.enqueue({ type: 'subscribe', ...sub }, () => {}, () => {}));
    for (const p of [...renewals, ...again, ...waiting.filter((w) => !w.sent)]) {
      this.pending.push(p);
      p.sent = true;
      this.ws.send(p.text);
    }
  }

  /** Opens a socket (url: ws://host:port/v1/sessions/{id}/ws) and resolves with it once the hello has arrived. */
  static async connect(url: string, options: SocketOptions = {}): Promise<SessionSocket> {
    const u = new URL(url);
    if (options.role) u.searchParams.set('role', options.role);
    if (options.format) u.searchParams.set('format', options.format);
    const { ws, hello } = await openSocket<HelloMessage>(u, options);
    return new SessionSocket(ws, hello, u, options);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN && !this.recovering;
  }

  on<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /**
   * Sends any request and resolves with its reply's result; the typed
   * methods below use it. While the socket is being opened again, the
   * request waits and is sent, in order, on the new socket.
   */
  request<T>(message: { type: ClientMessageType } & Record<string, unknown>): Promise<T> {
    return this.queue<T>((resolve, reject) => this.enqueue(message, resolve, reject));
  }

  /** A request as it waits for its reply; what it changes in the session is noted once its reply comes. */
  private enqueue(message: { type: ClientMessageType } & Record<string, unknown>, resolve: (v: never) => void, reject: (e: Error) => void): Pending {
    const steps = message.type === 'step' ? Number(message.steps ?? 1) : 0;
    const defer = message.type === 'step' && message.deferReward === true;
    return {
      request: message.type,
      text: JSON.stringify(message),
      steps,
      defer,
      sent: false,
      resolve: (v: never) => {
        this.acknowledged(message, v);
        resolve(v);
      },
      reject,
    };
  }

  /** A reply came: the session's (step, pending) after it, and the subscriptions to renew. */
  private acknowledged(message: { type: ClientMessageType } & Record<string, unknown>, result: unknown): void {
    const r = result as { step?: unknown; pending?: unknown } | null;
    if (MUTATING.has(message.type) && r !== null && typeof r.step === 'number' && typeof r.pending === 'boolean') this.acked = { step: r.step, pending: r.pending };
    if (message.type === 'subscribe') {
      const { type: _type, id: _id, ...sub } = message as SubscribeMessage;
      this.subscriptions.set(sub.stream, sub);
    } else if (message.type === 'unsubscribe') {
      if (message.stream === undefined) this.subscriptions.clear();
      else this.subscriptions.delete(message.stream as WsStream);
    }
  }

  step(body: StepBody & Format = {}): Promise<StepResult> {
    return this.request({ type: 'step', ...body });
  }

  /** A batch's reward is a number (every copy) or one per copy. */
  reward(reward: number | number[]): Promise<RewardResult> {
    return this.request({ type: 'reward', reward });
  }

  reset(body: ResetBody = {}): Promise<ResetResult> {
    return this.request({ type: 'reset', ...body });
  }

  /** Every connection's weights. In binary, the result has this shape for one connection too. */
  weights(options?: Format): Promise<AllWeights>;
  weights(connection: string, options?: Format): Promise<ConnectionWeights>;
  weights(a?: string | Format, b?: Format): Promise<AllWeights | ConnectionWeights> {
    if (typeof a === 'string') return this.request({ type: 'weights', connection: a, ...(b ?? {}) });
    return this.request({ type: 'weights', ...(a ?? {}) });
  }

  setWeights(connection: string, weights: number[][], options: Format = {}): Promise<ConnectionWeights> {
    return this.request({ type: 'set_weights', connection, weights, ...options });
  }

  snapshot(): Promise<Snapshot> {
    return this.request({ type: 'snapshot' });
  }

  subscribe(options: Omit<SubscribeMessage, 'type' | 'id'>): Promise<Subscribed> {
    return this.request({ type: 'subscribe', ...options });
  }

  unsubscribe(stream?: WsStream): Promise<Unsubscribed> {
    return this.request(stream === undefined ? { type: 'unsubscribe' } : { type: 'unsubscribe', stream });
  }

  /** Stops reading the socket (the server's buffers fill up, as with a slow peer); resume() reads again. */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  private emit<E extends keyof SocketEvents>(event: E, e: Parameters<SocketEvents[E]>[0]): void {
    for (const l of this.listeners[event]) (l as (e: unknown) => void)(e);
  }

  protected override onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      let f: DecodedFrame;
      try {
        f = decodeFrame(data);
      } catch (e) {
        this.protocolError((e as Error).message);
        return;
      }
      this.onFrame(f);
      return;
    }
    const msg = JSON.parse(data.toString()) as { type: string } & Record<string, unknown>;
    switch (msg.type) {
      case 'reply':
      case 'error': {
        const wrong = settle(this.pending, msg as unknown as JsonAnswer);
        if (wrong !== null) this.protocolError(wrong);
        return;
      }
      case 'spikes':
      case 'potentials':
      case 'weights':
      case 'reward':
      case 'dropped':
        return this.emit(msg.type, msg as never);
      default:
        // A message type newer than this client: ignored, as the protocol allows.
        return;
    }
  }

  private onFrame(f: DecodedFrame): void {
    switch (f.kind) {
      case 'step': {
        const p = this.pending.next();
        if (!p || p.request !== 'step') return this.protocolError(`a binary step reply came where ${p ? `a reply to ${p.request}` : 'nothing'} was due`);
        p.resolve(stepResultOf(f, this.hello) as never);
        return;
      }
      case 'weights': {
        const p = this.pending.next();
        if (!p || (p.request !== 'weights' && p.request !== 'set_weights')) {
          return this.protocolError(`a binary weights reply came where ${p ? `a reply to ${p.request}` : 'nothing'} was due`);
        }
        p.resolve({ step: f.step, weights: weightsOf(f, this.hello) } as never);
        return;
      }
      case 'spikesEvent':
        return this.emit('spikes', spikesEventOf(f, this.hello));
      case 'potentialsEvent':
        return this.emit('potentials', potentialsEventOf(f, this.hello));
      case 'weightsEvent':
        return this.emit('weights', { type: 'weights', step: f.step, pending: f.pending, weights: weightsOf(f, this.hello) });
      case 'rewardEvent': {
        const e = rewardEventOf(f);
        if (e === null) return this.protocolError(`a binary reward event came with ${f.sections.length} sections, neither one reward section nor a copy and a reward section per copy`);
        return this.emit('reward', e);
      }
    }
  }
}

