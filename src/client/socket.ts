/**
 * A typed client for a session's WebSocket (docs/websocket.md).
 *
 * Every request returns a promise of its reply; requests may be sent without
 * waiting (pipelining), and since the server answers in request order, the
 * client matches replies first in, first out. Binary replies and events are
 * decoded into the same shapes as the JSON ones (weights and potentials then
 * hold float32 values), so code using the client does not care which format
 * the connection speaks.
 */
import WebSocket from 'ws';
import type { AllWeights, ConnectionWeights } from '../api/state.js';
import type { ResetBody, ResetResult, RewardResult, StepBody, StepResult } from '../api/step.js';
import type {
  ClientMessageType,
  DroppedNotice,
  ErrorMessage,
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
import { decodeFrame, spikeLists, weightRows, type DecodedFrame } from '../ws/binary-format.js';
import { SpikeserveClientError } from './errors.js';
import { closedBeforeReply, closedError, openSocket, PendingReplies, type CloseInfo, type OpenOptions } from './transport.js';

export type { CloseInfo } from './transport.js';

export interface SocketOptions extends OpenOptions {
  /** controller (default) steps the session; observer only watches it. */
  role?: WsRole;
  /** The format of replies and events unless a request says otherwise; default json. */
  format?: WsFormat;
}

export type SocketEvents = {
  spikes: (e: SpikesEvent) => void;
  potentials: (e: PotentialsEvent) => void;
  weights: (e: WeightsEvent) => void;
  /** The rewards stream (subscribe to `rewards`): one event per reward a learning update used. */
  reward: (e: RewardEvent) => void;
  dropped: (e: DroppedNotice) => void;
  close: (e: CloseInfo) => void;
};

type Format = { format?: WsFormat };

export class SessionSocket {
  readonly hello: HelloMessage;
  private readonly ws: WebSocket;
  private readonly pending = new PendingReplies<ClientMessageType>();
  private closeInfo: CloseInfo | null = null;
  private readonly closed: Promise<CloseInfo>;
  private readonly listeners: { [E in keyof SocketEvents]: Set<SocketEvents[E]> } = {
    spikes: new Set(),
    potentials: new Set(),
    weights: new Set(),
    reward: new Set(),
    dropped: new Set(),
    close: new Set(),
  };

  private constructor(ws: WebSocket, hello: HelloMessage) {
    this.ws = ws;
    this.hello = hello;
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        const info = { code, reason: reason.toString() };
        this.closeInfo = info;
        this.pending.rejectAll(closedBeforeReply(info));
        for (const l of this.listeners.close) l(info);
        resolve(info);
      });
    });
  }

  /** Opens a socket (url: ws://host:port/v1/sessions/{id}/ws) and resolves with it once the hello has arrived. */
  static async connect(url: string, options: SocketOptions = {}): Promise<SessionSocket> {
    const u = new URL(url);
    if (options.role) u.searchParams.set('role', options.role);
    if (options.format) u.searchParams.set('format', options.format);
    const { ws, hello } = await openSocket<HelloMessage>(u, options);
    return new SessionSocket(ws, hello);
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  on<E extends keyof SocketEvents>(event: E, listener: SocketEvents[E]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Sends any request and resolves with its reply's result; the typed methods below use it. */
  request<T>(message: { type: ClientMessageType } & Record<string, unknown>): Promise<T> {
    if (this.closeInfo || this.ws.readyState !== WebSocket.OPEN) return Promise.reject(closedError(this.closeInfo));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ request: message.type, resolve: resolve as (v: never) => void, reject });
      this.ws.send(JSON.stringify(message));
    });
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

  /** Closes the socket (code 1000) and resolves once it is closed. */
  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
    return this.closed;
  }

  /** Resolves when the socket closes, however it closes. */
  whenClosed(): Promise<CloseInfo> {
    return this.closed;
  }

  /** Stops reading the socket (the server's buffers fill up, as with a slow peer); resume() reads again. */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  private protocolError(message: string): void {
    this.pending.rejectAll(new SpikeserveClientError('PROTOCOL_ERROR', message));
    this.ws.close(1002, 'client: unexpected message');
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
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
        const p = this.pending.next();
        if (!p) return this.protocolError(`a ${msg.type} came with no request waiting`);
        if (msg.request !== undefined && msg.request !== p.request) return this.protocolError(`a reply to ${String(msg.request)} came where one to ${p.request} was due`);
        if (msg.type === 'reply') p.resolve(msg.result as never);
        else {
          const e = (msg as unknown as ErrorMessage).error;
          p.reject(new SpikeserveClientError(e.code, e.message, { details: e.details }));
        }
        return;
      }
      case 'spikes':
      case 'potentials':
      case 'weights':
      case 'reward':
      case 'dropped':
        for (const l of this.listeners[msg.type]) (l as (e: unknown) => void)(msg);
        return;
      default:
        // A message type newer than this client: ignored, as the protocol allows.
        return;
    }
  }

  private onFrame(f: DecodedFrame): void {
    const pops = this.hello.populations;
    const conns = this.hello.connections;
    switch (f.kind) {
      case 'step': {
        const p = this.pending.next();
        if (!p || p.request !== 'step') return this.protocolError(`a binary step reply came where ${p ? `a reply to ${p.request}` : 'nothing'} was due`);
        const r: StepResult = { step: f.step, steps: f.steps, pending: f.pending };
        for (const s of f.sections) {
          if (s.type === 'spikes') (r.spikes ??= {})[pops[s.index].name] = spikeLists(s);
          else if (s.type === 'counts') (r.spikeCounts ??= {})[pops[s.index].name] = Array.from(s.counts);
          else if (s.type === 'potentials') (r.potentials ??= {})[pops[s.index].name] = Array.from(s.values);
          else if (s.type === 'weights') (r.weights ??= {})[conns[s.index].name] = weightRows(s);
        }
        p.resolve(r as never);
        return;
      }
      case 'weights': {
        const p = this.pending.next();
        if (!p || (p.request !== 'weights' && p.request !== 'set_weights')) {
          return this.protocolError(`a binary weights reply came where ${p ? `a reply to ${p.request}` : 'nothing'} was due`);
        }
        const weights: Record<string, number[][]> = {};
        for (const s of f.sections) if (s.type === 'weights') weights[conns[s.index].name] = weightRows(s);
        p.resolve({ step: f.step, weights } as never);
        return;
      }
      case 'spikesEvent': {
        const spikes: Record<string, number[]> = {};
        for (const s of f.sections) if (s.type === 'spikes') spikes[pops[s.index].name] = Array.from(s.indices);
        const e: SpikesEvent = { type: 'spikes', step: f.step, pending: f.pending, spikes };
        for (const l of this.listeners.spikes) l(e);
        return;
      }
      case 'potentialsEvent': {
        const potentials: Record<string, number[]> = {};
        for (const s of f.sections) if (s.type === 'potentials') potentials[pops[s.index].name] = Array.from(s.values);
        const e: PotentialsEvent = { type: 'potentials', step: f.step, pending: f.pending, potentials };
        for (const l of this.listeners.potentials) l(e);
        return;
      }
      case 'weightsEvent': {
        const weights: Record<string, number[][]> = {};
        for (const s of f.sections) if (s.type === 'weights') weights[conns[s.index].name] = weightRows(s);
        const e: WeightsEvent = { type: 'weights', step: f.step, pending: f.pending, weights };
        for (const l of this.listeners.weights) l(e);
        return;
      }
      case 'rewardEvent': {
        const s = f.sections[0];
        if (f.sections.length !== 1 || s.type !== 'reward') return this.protocolError(`a binary reward event came with ${f.sections.length} sections, not one reward section`);
        const e: RewardEvent = { type: 'reward', step: f.step, reward: s.reward, source: s.source };
        for (const l of this.listeners.reward) l(e);
        return;
      }
    }
  }
}
