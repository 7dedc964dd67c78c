/**
 * HTTP forwarding to the node that owns a session: over connections of its
 * own (raw-http.ts), kept alive, one set per node; a request with a time
 * limit (a listing's page) through undici's pool. The request goes as the client sent it
 * (method, path and query, headers but the hop-by-hop ones, body bytes), so
 * the owner runs every check itself (host, origin, key, quotas); its answer
 * comes back as it is, its `spikeserve-node` header naming it.
 */
import type { Dispatcher, Pool } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { RawHttpClient, RawHttpError } from './raw-http.js';

/** Set on forwarded requests: how many nodes passed it on; a node receiving one serves it if it can. */
export const HOPS_HEADER = 'spikeserve-hops';
/** Set on every reply in cluster mode: the node that served it. */
export const NODE_HEADER = 'spikeserve-node';

const REQUEST_ID_HEADER = 'x-request-id';

/** Methods whose request has a body: an empty one is announced (content-length: 0), as undici does. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Hop-by-hop headers (RFC 9110 7.6.1) and the length undici sets from the body. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', HOPS_HEADER]);

export interface ForwardedReply {
  status: number;
  /** Names (lower-case) and values alternately, as the other node sent them, but the hop-by-hop headers and the length (as node:http's `rawHeaders`, which `writeHead` takes as they are). */
  rawHeaders: string[];
  body: Buffer;
}

/** A reply's headers as one object, a header repeated as an array of its values. */
export function headerObject(rawHeaders: string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const had = headers[name];
    headers[name] = had === undefined ? rawHeaders[i + 1] : Array.isArray(had) ? [...had, rawHeaders[i + 1]] : [had, rawHeaders[i + 1]];
  }
  return headers;
}

/** A failure to reach the node, with whether the request certainly did not reach it (then it may be sent again). */
export class ForwardError extends Error {
  constructor(
    message: string,
    readonly notSent: boolean,
  ) {
    super(message);
    this.name = 'ForwardError';
  }
}

/** A request to pass on: as the client sent it (the hop-by-hop headers and the length are not passed on), with how many nodes passed it on so far. */
export interface ForwardRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer | null;
  hops: number;
  /** The id the owner logs the request under, in place of the client's x-request-id. */
  requestId?: string;
  /** Set: through undici's pool, within this time (a listing's page). */
  timeoutMs?: number;
}

export class Forwarder {
  private readonly pools = new Map<string, Pool>();
  private readonly raw = new RawHttpClient();

  /** `PoolClass` is undici's Pool, which the cluster loads only when it starts (a server on its own never needs it). */
  constructor(private readonly PoolClass: typeof Pool) {}

  /**
   * Sends the request to `origin` (http://host:port) and reads the whole
   * reply: over the node's own connections, or, with a time limit, through
   * undici's pool's dispatch() and callbacks (the reply a few chunks
   * gathered into one buffer, with no stream built around it).
   */
  forward(origin: string, req: ForwardRequest): Promise<ForwardedReply> {
    if (req.timeoutMs === undefined) return this.forwardRaw(origin, req);
    const headers: Record<string, string | string[]> = {};
    for (const k in req.headers) {
      const v = req.headers[k];
      if (v !== undefined && !NOT_FORWARDED.has(k)) headers[k] = v;
    }
    headers[HOPS_HEADER] = String(req.hops + 1);
    // The owner logs the request under the id this node gave it (the client's own, if it sent a usable one).
    if (req.requestId !== undefined) headers[REQUEST_ID_HEADER] = req.requestId;
    const timeouts = { headersTimeout: req.timeoutMs, bodyTimeout: req.timeoutMs };
    return new Promise((resolve, reject) => {
      let status = 0;
      let replyHeaders: string[] | null = null;
      const chunks: Buffer[] = [];
      let size = 0;
      const handler: Dispatcher.DispatchHandler = {
        // Present so that undici takes this for a handler of its current interface.
        onRequestStart: () => {},
        onResponseStart: (_controller, statusCode, headers) => {
          // 1xx answers are interim: the final one follows.
          if (statusCode < 200) return;
          status = statusCode;
          replyHeaders = [];
          for (const k in headers) {
            const v = headers[k];
            if (v === undefined || NOT_FORWARDED.has(k)) continue;
            if (typeof v === 'string') replyHeaders.push(k, v);
            else for (const one of v) replyHeaders.push(k, one);
          }
        },
        onResponseData: (_controller, chunk) => {
          chunks.push(chunk);
          size += chunk.length;
        },
        onResponseEnd: () => resolve({ status, rawHeaders: replyHeaders ?? [], body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size) }),
        onResponseError: (_controller, e) => {
          if (replyHeaders !== null) return reject(new ForwardError(`${origin}: the reply was cut off: ${e.message}`, false));
          const code = (e as { code?: string }).code;
          reject(new ForwardError(`${origin}: ${e.message}`, code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT'));
        },
      };
      try {
        this.pool(origin).dispatch({ method: req.method as Dispatcher.HttpMethod, path: req.url, headers, body: req.body, ...timeouts }, handler);
      } catch (e) {
        reject(new ForwardError(`${origin}: ${(e as Error).message}`, false));
      }
    });
  }

  /**
   * The request written as HTTP/1.1 bytes, its head straight from the
   * request's headers (no copy of them made first), the reply's hop-by-hop
   * headers and length left out as undici's path leaves them out.
   */
  private async forwardRaw(origin: string, req: ForwardRequest): Promise<ForwardedReply> {
    const { method, headers, body, requestId } = req;
    let head = `${method} ${req.url} HTTP/1.1\r\n`;
    if (headers.host === undefined) head += `host: ${new URL(origin).host}\r\n`;
    for (const k in headers) {
      const v = headers[k];
      if (v === undefined || NOT_FORWARDED.has(k) || (requestId !== undefined && k === REQUEST_ID_HEADER)) continue;
      if (typeof v === 'string') head += `${k}: ${v}\r\n`;
      else for (const one of v) head += `${k}: ${one}\r\n`;
    }
    head += `${HOPS_HEADER}: ${req.hops + 1}\r\n`;
    // The owner logs the request under the id this node gave it (the client's own, if it sent a usable one).
    if (requestId !== undefined) head += `${REQUEST_ID_HEADER}: ${requestId}\r\n`;
    const sent = body !== null && (body.length > 0 || BODY_METHODS.has(method)) ? body : null;
    if (sent !== null) head += `content-length: ${sent.length}\r\n`;
    try {
      return await this.raw.request(origin, method, head, sent, NOT_FORWARDED);
    } catch (e) {
      if (e instanceof RawHttpError) throw new ForwardError(`${origin}: ${e.message}`, e.notSent);
      throw new ForwardError(`${origin}: ${(e as Error).message}`, false);
    }
  }

  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      p = new this.PoolClass(origin, { connections: 128, connectTimeout: 2000, keepAliveTimeout: 4000 });
      this.pools.set(origin, p);
    }
    return p;
  }

  async close(): Promise<void> {
    this.raw.close();
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}

/** How many nodes passed a request on (its HOPS_HEADER); 0 for one from a client. */
export function hopsOf(headers: IncomingHttpHeaders): number {
  const n = Number(headers[HOPS_HEADER] ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}
