/**
 * What the client's two sockets share (a session's, SessionSocket; the
 * multiplexed one, MultiplexSocket): opening one, with the server's refusal
 * read from the upgrade's HTTP answer or from the error message before the
 * close, up to its hello; and the requests waiting for their replies, which
 * the server sends in request order, so they are matched first in, first out.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type { ErrorMessage } from '../api/ws.js';
import { SpikeserveClientError } from './errors.js';

export interface OpenOptions {
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

/** Opens a socket and resolves once its first message, the hello, has come; rejects with the server's refusal. */
export function openSocket<H>(u: URL, options: OpenOptions): Promise<{ ws: WebSocket; hello: H }> {
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
      const msg = JSON.parse(data.toString()) as { type: string; error?: ErrorMessage['error'] };
      if (msg.type === 'error') {
        // The close with its code follows.
        refusal = msg.error!;
        return;
      }
      ws.off('close', onClose);
      ws.removeAllListeners('error');
      ws.on('error', () => {});
      resolve({ ws, hello: msg as unknown as H });
    });
  });
}

export interface Pending<R extends string> {
  request: R;
  resolve: (v: never) => void;
  reject: (e: Error) => void;
}

/** Requests sent and not yet answered, oldest first. */
export class PendingReplies<P extends { reject: (e: Error) => void }> {
  private items: P[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(p: P): void {
    this.items.push(p);
  }

  /** The oldest request waiting, taken off the list; undefined when none waits. */
  next(): P | undefined {
    if (this.head >= this.items.length) return undefined;
    const p = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return p;
  }

  /** Every request waiting, oldest first, taken off the list. */
  takeAll(): P[] {
    const waiting = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return waiting;
  }

  /** Fails every request waiting. */
  rejectAll(err: Error): void {
    for (const p of this.takeAll()) p.reject(err);
  }
}

/** A reply or an error message, as either socket sends them in JSON. */
export type JsonAnswer = { type: 'reply'; request?: string; result?: unknown } | { type: 'error'; request?: string; error: ErrorMessage['error'] };

/** Answers the oldest request waiting with `msg`; what is wrong when it cannot be its answer (then a protocol error), else null. */
export function settle<P extends Pending<string>>(pending: PendingReplies<P>, msg: JsonAnswer): string | null {
  const p = pending.next();
  if (!p) return `a ${msg.type} came with no request waiting`;
  if (msg.request !== undefined && msg.request !== p.request) return `a reply to ${String(msg.request)} came where one to ${p.request} was due`;
  if (msg.type === 'reply') p.resolve(msg.result as never);
  else p.reject(new SpikeserveClientError(msg.error.code, msg.error.message, { details: msg.error.details }));
  return null;
}

/** The error code a close reason starts with ("SESSION_NOT_FOUND: ..."), else CONNECTION_CLOSED. */
export function reasonCode(c: CloseInfo): string {
  const m = /^([A-Z][A-Z_]+):/.exec(c.reason);
  return m ? m[1] : 'CONNECTION_CLOSED';
}

/** The error of a request made on a closed socket (`c`: how it closed, if it has). */
export function closedError(c: CloseInfo | null): SpikeserveClientError {
  return new SpikeserveClientError(c ? reasonCode(c) : 'CONNECTION_CLOSED', `the socket is closed${c ? ` (${c.code}: ${c.reason})` : ''}`, c ? { closeCode: c.code } : {});
}

/** The error of the requests still waiting when the socket closed. */
export function closedBeforeReply(info: CloseInfo): SpikeserveClientError {
  return new SpikeserveClientError(reasonCode(info), `the socket closed (${info.code}${info.reason ? `: ${info.reason}` : ''}) before the reply came`, { closeCode: info.code });
}
