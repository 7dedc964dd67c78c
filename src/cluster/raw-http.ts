/**
 * HTTP/1.1 to another node over kept-alive TCP connections of our own, for
 * requests whose whole reply is wanted (forward.ts): the request head and
 * body written in one write, the reply's head parsed only as far as status,
 * headers and framing (content-length, chunked, or to the end of the
 * connection), its body gathered into one buffer. A general client (undici)
 * parses and dispatches far more per reply than a node's buffered hop needs.
 *
 * Failures are told apart as undici's are: a connection refused or not made
 * in time means the request was certainly not sent; anything else (a reused
 * connection the other node closed meanwhile included) may have reached it.
 */
import { connect, type Socket } from 'node:net';

export interface RawReply {
  status: number;
  /** Lower-case names; a header repeated is an array. */
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export class RawHttpError extends Error {
  constructor(
    message: string,
    /** The request certainly did not reach the other node. */
    readonly notSent: boolean,
    /** Part of the reply had come. */
    readonly replied: boolean,
  ) {
    super(message);
    this.name = 'RawHttpError';
  }
}

/** How long a connection may stay idle before it is closed, below a node's own keep-alive timeout (fastify's, 72 s). */
const IDLE_MS = 4000;
const CONNECT_TIMEOUT_MS = 2000;
/** Idle connections kept per node at most. */
const MAX_IDLE = 128;
const CRLF_CRLF = Buffer.from('\r\n\r\n', 'latin1');

type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

/** One exchange on a connection: the reply, parsed as bytes arrive. */
class Exchange {
  private pending: Buffer | null = null;
  private status = 0;
  private headers: Record<string, string | string[]> | null = null;
  private framing: Framing = { kind: 'none' };
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** Chunked: bytes of the current chunk still to come (-1: a size line is next; -2: the CRLF after a chunk; -3: trailers). */
  private chunkLeft = -1;
  keepAlive = true;

  constructor(
    private readonly isHead: boolean,
    readonly resolve: (r: RawReply) => void,
    readonly reject: (e: RawHttpError) => void,
  ) {}

  get replied(): boolean {
    return this.headers !== null || this.pending !== null;
  }

  /** Takes bytes off the connection; true once the reply is complete. Throws on a reply it cannot read. */
  feed(data: Buffer): boolean {
    let buf = this.pending === null ? data : Buffer.concat([this.pending, data]);
    this.pending = null;
    while (this.headers === null) {
      const end = buf.indexOf(CRLF_CRLF);
      if (end < 0) {
        if (buf.length > 65536) throw new Error('reply head too large');
        this.pending = buf;
        return false;
      }
      const final = this.parseHead(buf.toString('latin1', 0, end));
      buf = buf.subarray(end + 4);
      if (!final) continue;
      if (this.framing.kind === 'none') return true;
    }
    return this.body(buf);
  }

  /** The reply, once complete. */
  reply(): RawReply {
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    return { status: this.status, headers: this.headers ?? {}, body };
  }

  /** The connection ended: complete if the reply runs to its end. */
  ended(): boolean {
    return this.headers !== null && this.framing.kind === 'close';
  }

  private parseHead(head: string): boolean {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
    if (m === null) throw new Error(`not an HTTP reply: ${JSON.stringify(lines[0].slice(0, 40))}`);
    const status = Number(m[2]);
    // 1xx answers are interim: the final one follows (101 would switch protocols, which no buffered request asks for).
    if (status < 200) {
      if (status === 101) throw new Error('the other node switched protocols');
      return false;
    }
    const headers: Record<string, string | string[]> = {};
    let length = -1;
    let chunked = false;
    let close = m[1] === '0';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error('malformed reply header');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        length = Number(value);
        if (!Number.isSafeInteger(length) || length < 0) throw new Error('malformed content-length');
      } else if (name === 'transfer-encoding') {
        chunked = value.toLowerCase().split(',').pop()!.trim() === 'chunked';
        if (!chunked) close = true;
      } else if (name === 'connection') {
        const v = value.toLowerCase();
        if (v.includes('close')) close = true;
        else if (v.includes('keep-alive')) close = m[1] === '0' ? false : close;
      }
      const had = headers[name];
      headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    this.status = status;
    this.headers = headers;
    this.keepAlive = !close;
    if (this.isHead || status === 204 || status === 304) this.framing = { kind: 'none' };
    else if (chunked) this.framing = { kind: 'chunked' };
    else if (length >= 0) this.framing = length === 0 ? { kind: 'none' } : { kind: 'length', left: length };
    else {
      this.framing = { kind: 'close' };
      this.keepAlive = false;
    }
    return true;
  }

  private take(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  private body(buf: Buffer): boolean {
    const f = this.framing;
    if (f.kind === 'none') return true;
    if (f.kind === 'close') {
      this.take(buf);
      return false;
    }
    if (f.kind === 'length') {
      if (buf.length > f.left) throw new Error('more bytes than content-length');
      this.take(buf);
      f.left -= buf.length;
      return f.left === 0;
    }
    return this.chunked(buf);
  }

  private chunked(buf: Buffer): boolean {
    let at = 0;
    while (at < buf.length) {
      if (this.chunkLeft > 0) {
        const n = Math.min(this.chunkLeft, buf.length - at);
        this.take(buf.subarray(at, at + n));
        at += n;
        this.chunkLeft -= n;
        if (this.chunkLeft === 0) this.chunkLeft = -2;
        continue;
      }
      const eol = buf.indexOf('\r\n', at, 'latin1');
      if (eol < 0) {
        this.pending = buf.subarray(at);
        return false;
      }
      const line = buf.toString('latin1', at, eol);
      at = eol + 2;
      if (this.chunkLeft === -2) {
        if (line !== '') throw new Error('malformed chunk');
        this.chunkLeft = -1;
      } else if (this.chunkLeft === -3) {
        // Trailers, ended by an empty line; not passed on.
        if (line === '') {
          if (at !== buf.length) throw new Error('bytes after the reply');
          return true;
        }
      } else {
        const size = parseInt(line, 16);
        if (!Number.isSafeInteger(size) || size < 0) throw new Error('malformed chunk size');
        this.chunkLeft = size === 0 ? -3 : size;
      }
    }
    return false;
  }
}

/** A kept-alive connection to one node, carrying one exchange at a time. */
class Connection {
  readonly socket: Socket;
  connected = false;
  exchange: Exchange | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    host: string,
    port: number,
    private readonly pool: NodePool,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    const timer = setTimeout(() => this.socket.destroy(Object.assign(new Error(`connect timed out after ${CONNECT_TIMEOUT_MS} ms`), { code: 'CONNECT_TIMEOUT' })), CONNECT_TIMEOUT_MS);
    this.socket.once('connect', () => {
      clearTimeout(timer);
      this.connected = true;
    });
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => {
      clearTimeout(timer);
      this.fail(new Error('the connection closed'));
      this.pool.forget(this);
    });
  }

  send(bytes: Buffer, exchange: Exchange): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.exchange = exchange;
    this.socket.write(bytes);
  }

  private onData(d: Buffer): void {
    const ex = this.exchange;
    if (ex === null) return void this.socket.destroy();
    let done: boolean;
    try {
      done = ex.feed(d);
    } catch (e) {
      this.exchange = null;
      this.socket.destroy();
      return ex.reject(new RawHttpError(`the reply could not be read: ${(e as Error).message}`, false, true));
    }
    if (!done) return;
    this.exchange = null;
    if (ex.keepAlive) this.pool.release(this);
    else this.socket.destroy();
    ex.resolve(ex.reply());
  }

  private onEnd(): void {
    const ex = this.exchange;
    if (ex !== null && ex.ended()) {
      this.exchange = null;
      ex.resolve(ex.reply());
    }
    this.socket.destroy();
  }

  private fail(e: Error): void {
    const ex = this.exchange;
    if (ex === null) return;
    this.exchange = null;
    const code = (e as { code?: string }).code;
    const notSent = !this.connected && (code === 'ECONNREFUSED' || code === 'CONNECT_TIMEOUT');
    ex.reject(new RawHttpError(ex.replied ? `the reply was cut off: ${e.message}` : e.message, notSent, ex.replied));
  }

  idle(): void {
    this.idleTimer = setTimeout(() => this.socket.destroy(), IDLE_MS);
    this.idleTimer.unref();
  }
}

class NodePool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  acquire(): Connection {
    const c = this.idle.pop() ?? new Connection(this.host, this.port, this);
    this.all.add(c);
    return c;
  }

  release(c: Connection): void {
    if (this.idle.length >= MAX_IDLE) return void c.socket.destroy();
    c.idle();
    this.idle.push(c);
  }

  forget(c: Connection): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  destroy(): void {
    for (const c of this.all) c.socket.destroy();
  }
}

/** Connections per node (origin: http://host:port), each request on one not in use. */
export class RawHttpClient {
  private readonly pools = new Map<string, NodePool>();

  /**
   * Sends a request whose head (request line and header lines, each ending
   * CRLF, without the blank line) is `head` and reads its whole reply.
   */
  request(origin: string, method: string, head: string, body: Buffer | null): Promise<RawReply> {
    const headLength = Buffer.byteLength(head, 'latin1');
    const bodyLength = body === null ? 0 : body.length;
    const bytes = Buffer.allocUnsafe(headLength + 2 + bodyLength);
    bytes.write(head, 0, 'latin1');
    bytes[headLength] = 13;
    bytes[headLength + 1] = 10;
    if (body !== null) body.copy(bytes, headLength + 2);
    return new Promise((resolve, reject) => {
      const exchange = new Exchange(method === 'HEAD', resolve, reject);
      this.pool(origin).acquire().send(bytes, exchange);
    });
  }

  private pool(origin: string): NodePool {
    let p = this.pools.get(origin);
    if (p === undefined) {
      const u = new URL(origin);
      p = new NodePool(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 80));
      this.pools.set(origin, p);
    }
    return p;
  }

  close(): void {
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }
}
