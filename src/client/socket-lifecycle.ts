/**
 * What both of the client's sockets (SessionSocket, MultiplexSocket) share:
 * the socket open now and its hello, the requests waiting for replies, how a
 * request is sent or held while the socket is opened again, and how the
 * socket closes, for good or on a protocol error. What a drop then means
 * (reconnecting, resuming) and what the messages hold is each socket's own.
 */
import WebSocket from 'ws';
import { SpikeserveClientError } from './errors.js';
import { listenWhileCurrent } from './reconnect.js';
import { closedBeforeReply, closedError, PendingReplies, type CloseInfo } from './transport.js';

/** A request as it waits for its reply. */
export interface QueuedRequest {
  /** The message as sent, to send it again after a drop. */
  text: string;
  /** Sent on the socket open now; false while it waits for a new one. */
  sent: boolean;
  reject: (e: Error) => void;
}

export abstract class SocketLifecycle<P extends QueuedRequest, H> {
  protected currentHello: H;
  protected ws: WebSocket;
  protected readonly pending = new PendingReplies<P>();
  private closeInfo: CloseInfo | null = null;
  protected closing = false;
  protected recovering = false;
  private resolveClosed!: (c: CloseInfo) => void;
  private readonly closed: Promise<CloseInfo>;
  /** How many times the socket was opened again. */
  reconnects = 0;

  protected constructor(ws: WebSocket, hello: H) {
    this.ws = ws;
    this.currentHello = hello;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    // Only listens: the socket's events come once the constructors have run.
    this.attach(ws);
  }

  /** The hello of the socket open now (a new one after each reconnection). */
  get hello(): H {
    return this.currentHello;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Closes the socket (code 1000) and resolves once it is closed (no reconnection after this). */
  close(code = 1000, reason = ''): Promise<CloseInfo> {
    this.closing = true;
    // Between two sockets there is nothing to close: the reconnection stops at its next turn and tells.
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
    return this.closed;
  }

  /** Resolves when the socket closes for good (after a drop, once reconnecting has failed), however it closes. */
  whenClosed(): Promise<CloseInfo> {
    return this.closed;
  }

  /** A message of the socket open now. */
  protected abstract onMessage(data: Buffer, isBinary: boolean): void;

  /** The socket open now closed: finish() or open it again. */
  protected abstract onClose(info: CloseInfo): void;

  /** Told once the socket has closed for good, after the requests waiting failed and before whenClosed() resolves. */
  protected closedForGood(_info: CloseInfo): void {}

  protected attach(ws: WebSocket): void {
    listenWhileCurrent(ws, () => this.ws, {
      message: (data, isBinary) => this.onMessage(data, isBinary),
      close: (info) => this.onClose(info),
    });
  }

  /**
   * Waits for a request's reply (`entry` makes what waits, from the
   * promise's resolve and reject) and sends it, unless the socket is being
   * opened again: then it is sent, in order, on the new socket.
   */
  protected queue<T>(entry: (resolve: (v: never) => void, reject: (e: Error) => void) => P): Promise<T> {
    if (this.closeInfo || this.closing) return Promise.reject(closedError(this.closeInfo));
    return new Promise<T>((resolve, reject) => {
      const p = entry(resolve as (v: never) => void, reject);
      this.pending.push(p);
      // A socket whose close has begun (the server's close frame came; its close event follows) holds the request until it is open again, or fails it.
      if (!this.recovering && this.ws.readyState === WebSocket.OPEN) {
        p.sent = true;
        this.ws.send(p.text);
      }
    });
  }

  /** Closed for good: every request waiting fails. */
  protected finish(info: CloseInfo): void {
    this.recovering = false;
    this.closeInfo = info;
    this.pending.rejectAll(closedBeforeReply(info));
    this.closedForGood(info);
    this.resolveClosed(info);
  }

  protected protocolError(message: string): void {
    this.closing = true;
    this.pending.rejectAll(new SpikeserveClientError('PROTOCOL_ERROR', message));
    this.ws.close(1002, 'client: unexpected message');
  }
}
