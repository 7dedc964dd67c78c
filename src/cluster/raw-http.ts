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
  /** Names (lower-case) and values alternately, in the order they came, a header repeated as often as it came; those `request()` was told to leave out left out. */
  rawHeaders: string[];
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
const NONE: ReadonlySet<string> = new Set();
const READ_BUFFER_BYTES = 65536;
/** Idle connections kept per node at most. */
const MAX_IDLE = 128;
const CRLF_CRLF = Buffer.from('\r\n\r\n', 'latin1');
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})/;

type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

/** One exchange on a connection: the reply, parsed as bytes arrive. */
class Exchange {
  private pending: Buffer | null = null;
  private status = 0;
  private headers: string[] | null = null;
  private framing: Framing = { kind: 'none' };
  private readonly chunks: Buffer[] = [];
  /** With content-length: the body, filled as its bytes come. */
  private into: Buffer | null = null;
  private size = 0;
  /** Chunked: bytes of the current chunk still to come (-1: a size line is next; -2: the CRLF after a chunk; -3: trailers). */
  private chunkLeft = -1;
  keepAlive = true;

  constructor(
    private readonly isHead: boolean,
    /** Header names (lower-case) not kept in the reply. */
    private readonly omit: ReadonlySet<string>,
    readonly resolve: (r: RawReply) => void,
    readonly reject: (e: RawHttpError) => void,
  ) {}

  get replied(): boolean {
    return this.headers !== null || this.pending !== null;
  }

  /**
   * Takes bytes off the connection; true once the reply is complete. Throws
   * on a reply it cannot read. `data` is the connection's read buffer, read
   * into again next: what is kept of it is copied.
   */
  feed(data: Buffer): boolean {
    let buf = this.pending === null ? data : Buffer.concat([this.pending, data]);
    this.pending = null;
    while (this.headers === null) {
      const end = buf.indexOf(CRLF_CRLF);
      if (end < 0) {
        if (buf.length > 65536) throw new Error('reply head too large');
        this.pending = Buffer.from(buf);
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
    const body = this.into ?? (this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size));
    return { status: this.status, rawHeaders: this.headers ?? [], body };
  }

  /** The connection ended: complete if the reply runs to its end. */
  ended(): boolean {
    return this.headers !== null && this.framing.kind === 'close';
  }

  private parseHead(head: string): boolean {
    // Read line by line with indexOf, no array of lines: this runs on every forwarded reply.
    const statusEnd = head.indexOf('\r\n');
    const m = STATUS_LINE.exec(statusEnd < 0 ? head : head.slice(0, statusEnd));
    if (m === null) throw new Error(`not an HTTP reply: ${JSON.stringify(head.slice(0, 40))}`);
    const status = Number(m[2]);
    // 1xx answers are interim: the final one follows (101 would switch protocols, which no buffered request asks for).
    if (status < 200) {
      if (status === 101) throw new Error('the other node switched protocols');
      return false;
    }
    const headers: string[] = [];
    let length = -1;
    let chunked = false;
    let close = m[1] === '0';
    let at = statusEnd < 0 ? head.length : statusEnd + 2;
    while (at < head.length) {
      let eol = head.indexOf('\r\n', at);
      if (eol < 0) eol = head.length;
      const colon = head.indexOf(':', at);
      if (colon <= at || colon > eol) throw new Error('malformed reply header');
      const name = head.slice(at, colon).trim().toLowerCase();
      const value = head.slice(colon + 1, eol).trim();
      at = eol + 2;
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
      if (!this.omit.has(name)) headers.push(name, value);
    }
    this.status = status;
    this.headers = headers;
    this.keepAlive = !close;
    if (this.isHead || status === 204 || status === 304) this.framing = { kind: 'none' };
    else if (chunked) this.framing = { kind: 'chunked' };
    else if (length > 0) {
      this.framing = { kind: 'length', left: length };
      this.into = Buffer.allocUnsafe(length);
    } else if (length === 0) this.framing = { kind: 'none' };
    else {
      this.framing = { kind: 'close' };
      this.keepAlive = false;
    }
    return true;
  }

  private take(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.into !== null) chunk.copy(this.into, this.size);
    else this.chunks.push(Buffer.from(chunk));
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
        this.pending = Buffer.from(buf.subarray(at));
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
    readBuffer: Buffer,
  ) {
    // Read straight into a buffer of the client's (onread), not through the socket's stream: a reply is parsed as it
    // comes and what is kept of it copied out, which costs less than the stream's chunk handling and events.
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (n) => {
          this.onData(readBuffer.subarray(0, n));
          return true; // keep reading (false would pause)
        },
      },
    });
    const timer = setTimeout(() => this.socket.destroy(Object.assign(new Error(`connect timed out after ${CONNECT_TIMEOUT_MS} ms`), { code: 'CONNECT_TIMEOUT' })), CONNECT_TIMEOUT_MS);
    this.socket.once('connect', () => {
      clearTimeout(timer);
      this.connected = true;
    });
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => {
      clearTimeout(timer);
      if (this.idleTimer !== null) clearTimeout(this.idleTimer);
      this.fail(new Error('the connection closed'));
      this.pool.forget(this);
    });
  }

  send(bytes: Buffer, exchange: Exchange): void {
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

  /** Closes the connection once idle for IDLE_MS: one timer per connection, restarted each time it falls idle (cheaper than a new one each time); a connection in use when it fires is left open. */
  idle(): void {
    if (this.idleTimer !== null) return void this.idleTimer.refresh();
    this.idleTimer = setTimeout(() => {
      if (this.exchange === null) this.socket.destroy();
    }, IDLE_MS);
    this.idleTimer.unref();
  }
}

class NodePool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly readBuffer: Buffer,
  ) {}

  acquire(): Connection {
    const c = this.idle.pop() ?? new Connection(this.host, this.port, this, this.readBuffer);
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
  /** Every connection reads into this: each read is parsed, and what is kept copied, before the next one. */
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

  /**
   * Sends a request whose head (request line and header lines, each ending
   * CRLF, without the blank line) is `head` and reads its whole reply,
   * the headers named in `omit` (lower-case) left out of it.
   */
  request(origin: string, method: string, head: string, body: Buffer | null, omit: ReadonlySet<string> = NONE): Promise<RawReply> {
    const headLength = Buffer.byteLength(head, 'latin1');
    const bodyLength = body === null ? 0 : body.length;
    const bytes = Buffer.allocUnsafe(headLength + 2 + bodyLength);
    bytes.write(head, 0, 'latin1');
    bytes[headLength] = 13;
    bytes[headLength + 1] = 10;
    if (body !== null) body.copy(bytes, headLength + 2);
    return new Promise((resolve, reject) => {
      const exchange = new Exchange(method === 'HEAD', omit, resolve, reject);
      this.pool(origin).acquire().send(bytes, exchange);
    });
  }

  private pool(origin: string): NodePool {
    let p = this.pools.get(origin);
    if (p === undefined) {
      const u = new URL(origin);
      p = new NodePool(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 80), this.readBuffer);
      this.pools.set(origin, p);
    }
    return p;
  }

  close(): void {
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }
}
