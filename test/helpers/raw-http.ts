/**
 * HTTP requests and WebSocket upgrades sent byte for byte as written: the
 * path as given (no normalising, no encoding) and any Host or Origin header,
 * to a server listening on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type Agent } from 'node:http';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body parsed, when it is JSON. */
  json: any;
}

export interface RawOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON with its content type; undefined sends no body and no content type. */
  body?: unknown;
  /** A shorthand for `Authorization: Bearer <key>`. */
  key?: string;
  /** The connection to send it on: a keep-alive agent's, for many requests; default a connection of its own. */
  agent?: Agent;
}

export function rawRequest(port: number, path: string, options: RawOptions = {}): Promise<RawReply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: options.method ?? 'GET', path, headers, agent: options.agent ?? false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export interface UpgradeOutcome {
  /** 101 when the handshake completed (accepted, or refused on the socket), else the HTTP refusal's status. */
  status: number;
  /** True only when the server took the socket as a session's: its first message is `hello`. */
  opened: boolean;
  /** The first message on a completed handshake. */
  first?: { type: string; error?: { code: string; message: string } };
}

/** A WebSocket upgrade on `path` as written, read up to its first message. */
export function rawUpgrade(port: number, path: string, options: Omit<RawOptions, 'method' | 'body'> = {}): Promise<UpgradeOutcome> {
  const headers: Record<string, string> = {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': randomBytes(16).toString('base64'),
    ...options.headers,
  };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, opened: false });
    });
    req.on('upgrade', (res, socket, head: Buffer) => {
      let buf = head;
      let settled = false;
      const done = (first?: UpgradeOutcome['first']) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, opened: first?.type === 'hello', first });
      };
      const tryFrame = () => {
        // A server frame is unmasked: 2 header bytes, then 2 (or 8) more for a longer length.
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          at = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          at = 10;
        }
        if (buf.length < at + len) return;
        const opcode = buf[0] & 0x0f;
        done(opcode === 1 ? JSON.parse(buf.subarray(at, at + len).toString('utf8')) : { type: `opcode ${opcode}` });
      };
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        tryFrame();
      });
      socket.on('end', () => done());
      socket.on('error', () => done());
      tryFrame();
    });
    req.on('error', reject);
    req.end();
  });
}
