/**
 * A typed client for the multiplexed WebSocket (/v1/ws, docs/websocket.md):
 * one socket driving many sessions. Each method names the session it is for,
 * and stepBatch steps many in one message (the result of POST
 * /v1/batch/step: an outcome per item). Requests may be sent without
 * waiting; replies come in request order and are matched first in, first out.
 *
 * Unlike SessionSocket it does not reconnect: its hello reports no session,
 * so a new socket could not tell which unanswered commands ran. A drop fails
 * every waiting request with the close's code (docs/websocket.md).
 */
import WebSocket from 'ws';
import type { BatchStepItem, BatchStepResult } from '../api/batch.js';
import type { AllWeights, ConnectionWeights } from '../api/state.js';
import type { ResetBody, ResetResult, RewardResult, StepBody, StepResult } from '../api/step.js';
import type { MuxErrorMessage, MuxHelloMessage, MuxMessageType, MuxReplyMessage } from '../api/ws-multiplex.js';
import type { Snapshot } from '../engine/snapshot.js';
import { SpikeserveClientError } from './errors.js';
import { closedBeforeReply, closedError, openSocket, PendingReplies, settle, type CloseInfo, type OpenOptions, type Pending } from './transport.js';

export class MultiplexSocket {
  readonly hello: MuxHelloMessage;
  private readonly ws: WebSocket;
  private readonly pending = new PendingReplies<Pending<MuxMessageType>>();
  private closeInfo: CloseInfo | null = null;
  private readonly closed: Promise<CloseInfo>;

  private constructor(ws: WebSocket, hello: MuxHelloMessage) {
    this.ws = ws;
    this.hello = hello;
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        const info = { code, reason: reason.toString() };
        this.closeInfo = info;
        this.pending.rejectAll(closedBeforeReply(info));
        resolve(info);
      });
    });
  }

  /** Opens the socket (url: ws://host:port/v1/ws) and resolves with it once the hello has arrived. */
  static async connect(url: string, options: OpenOptions = {}): Promise<MultiplexSocket> {
    const { ws, hello } = await openSocket<MuxHelloMessage>(new URL(url), options);
    return new MultiplexSocket(ws, hello);
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends any message and resolves with its reply's result; the typed methods below use it. */
  request<T>(message: { type: MuxMessageType } & Record<string, unknown>): Promise<T> {
    if (this.closeInfo || this.ws.readyState !== WebSocket.OPEN) return Promise.reject(closedError(this.closeInfo));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ request: message.type, resolve: resolve as (v: never) => void, reject });
      this.ws.send(JSON.stringify(message));
    });
  }

  step(session: string, body: StepBody = {}): Promise<StepResult> {
    return this.request({ type: 'step', session, ...body });
  }

  /** Steps many sessions in one message: per item, in order, {ok: true, result} or {ok: false, error}. */
  stepBatch(items: BatchStepItem[]): Promise<BatchStepResult> {
    return this.request({ type: 'step_batch', items });
  }

  reward(session: string, reward: number | number[]): Promise<RewardResult> {
    return this.request({ type: 'reward', session, reward });
  }

  reset(session: string, body: ResetBody = {}): Promise<ResetResult> {
    return this.request({ type: 'reset', session, ...body });
  }

  weights(session: string): Promise<AllWeights>;
  weights(session: string, connection: string): Promise<ConnectionWeights>;
  weights(session: string, connection?: string): Promise<AllWeights | ConnectionWeights> {
    return this.request(connection === undefined ? { type: 'weights', session } : { type: 'weights', session, connection });
  }

  setWeights(session: string, connection: string, weights: number[][]): Promise<ConnectionWeights> {
    return this.request({ type: 'set_weights', session, connection, weights });
  }

  snapshot(session: string): Promise<Snapshot> {
    return this.request({ type: 'snapshot', session });
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

  private protocolError(message: string): void {
    this.pending.rejectAll(new SpikeserveClientError('PROTOCOL_ERROR', message));
    this.ws.close(1002, 'client: unexpected message');
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) return this.protocolError('a binary frame came on the multiplexed socket, which sends JSON only');
    const msg = JSON.parse(data.toString()) as MuxReplyMessage | MuxErrorMessage | { type: string };
    if (msg.type !== 'reply' && msg.type !== 'error') return; // a message type newer than this client: ignored, as the protocol allows
    const wrong = settle(this.pending, msg as MuxReplyMessage | MuxErrorMessage);
    if (wrong !== null) this.protocolError(wrong);
  }
}
