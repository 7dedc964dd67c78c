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
import type { IncomingMessage } from 'node:http';
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

export interface SocketOptions {
  /** controller (default) steps the session; observer only watches it. */
  role?: WsRole;
  /** The format of replies and events unless a request says otherwise; default json. */
  format?: WsFormat;
  /** Extra handshake headers (Authorization). */
  headers?: Record<string, string>;
  /** Extra query parameters of the socket URL (an auth ticket). */
  query?: Record<string, string>;
  /** Largest message accepted from the server, in bytes; default 1 GiB. */
  maxPayload?: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
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

interface Pending {
  request: ClientMessageType;
  resolve: (v: never) => void;
  reject: (e: Error) => void;
}

type Format = { format?: WsFormat };

export class SessionSocket {
  readonly hello: HelloMessage;
  private readonly ws: WebSocket;
  private readonly pending: Pending[] = [];
  private head = 0;
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
        const err = new SpikeserveClientError(reasonCode(info), `the socket closed (${code}${info.reason ? `: ${info.reason}` : ''}) before the reply came`, { closeCode: code });
        for (let i = this.head; i < this.pending.length; i++) this.pending[i].reject(err);
        this.pending.length = 0;
        this.head = 0;
        for (const l of this.listeners.close) l(info);
        resolve(info);
      });
    });
  }

  /** Opens a socket (url: ws://host:port/v1/sessions/{id}/ws) and resolves with it once the hello has arrived. */
  static connect(url: string, options: SocketOptions = {}): Promise<SessionSocket> {
    const u = new URL(url);
    if (options.role) u.searchParams.set('role', options.role);
    if (options.format) u.searchParams.set('format', options.format);
    for (const [k, v] of Object.entries(options.query ?? {})) u.searchParams.set(k, v);
    const ws = new WebSocket(u, { headers: options.headers, maxPayload: options.maxPayload ?? 1024 ** 3, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      let refusal: ErrorMessage['error'] | null = null;
      const onClose = (code: number, reason: Buffer) => {
        const r = reason.toString();
        if (refusal) reject(new SpikeserveClientError(refusal.code, refusal.message, { closeCode: code, details: refusal.details }));
        else reject(new SpikeserveClientError(reasonCode({ code, reason: r }), `the socket closed (${code}${r ? `: ${r}` : ''}) before the hello`, { closeCode: code }));
      };
      ws.on('error', (err) => reject(new SpikeserveClientError('CONNECTION_FAILED', `cannot open ${u.href}: ${err.message}`)));
      ws.on('unexpected-response', (_req, res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          let e: { code?: string; message?: string; details?: Record<string, unknown> } | undefined;
          try {
            e = (JSON.parse(body) as { error?: typeof e }).error;
          } catch {
            e = undefined;
          }
          reject(new SpikeserveClientError(e?.code ?? 'HTTP_ERROR', e?.message ?? `the server answered the upgrade with HTTP ${res.statusCode}`, { status: res.statusCode, details: e?.details }));
          ws.terminate();
        });
      });
      ws.on('close', onClose);
      ws.once('message', (data, isBinary) => {
        if (isBinary) {
          reject(new SpikeserveClientError('PROTOCOL_ERROR', 'the first message was binary, not the hello'));
          ws.terminate();
          return;
        }
        const msg = JSON.parse(data.toString()) as HelloMessage | ErrorMessage;
        if (msg.type === 'error') {
          // The close with its code follows.
          refusal = msg.error;
          return;
        }
        ws.off('close', onClose);
        ws.removeAllListeners('error');
        ws.on('error', () => {});
        resolve(new SessionSocket(ws, msg));
      });
    });
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.length - this.head;
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
    if (this.closeInfo || this.ws.readyState !== WebSocket.OPEN) {
      const c = this.closeInfo;
      return Promise.reject(new SpikeserveClientError(c ? reasonCode(c) : 'CONNECTION_CLOSED', `the socket is closed${c ? ` (${c.code}: ${c.reason})` : ''}`, c ? { closeCode: c.code } : {}));
    }
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

  private next(): Pending | undefined {
    if (this.head >= this.pending.length) return undefined;
    const p = this.pending[this.head++];
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    return p;
  }

  private protocolError(message: string): void {
    const err = new SpikeserveClientError('PROTOCOL_ERROR', message);
    for (let i = this.head; i < this.pending.length; i++) this.pending[i].reject(err);
    this.pending.length = 0;
    this.head = 0;
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
        const p = this.next();
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
        const p = this.next();
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
        const p = this.next();
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

/** The error code a close reason starts with ("SESSION_NOT_FOUND: ..."), else CONNECTION_CLOSED. */
function reasonCode(c: CloseInfo): string {
  const m = /^([A-Z][A-Z_]+):/.exec(c.reason);
  return m ? m[1] : 'CONNECTION_CLOSED';
}
