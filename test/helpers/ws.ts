/**
 * Helpers for the WebSocket tests: an app listening on 127.0.0.1 and an
 * ephemeral port (no logging), with the typed client pointed at it, and a
 * wait for a condition with a bounded number of turns.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import type { AppOptions } from '../../src/app.js';
import { RestClient } from '../../src/client/index.js';
import type { Config } from '../../src/config.js';
import { BATCH_FRAME_KINDS, decodeStepBatchReply } from '../../src/ws/batch-frame.js';
import { decodeFrame } from '../../src/ws/binary-format.js';
import { makeApp } from './http.js';

export interface LiveServer {
  app: FastifyInstance;
  base: string;
  wsBase: string;
  rest: RestClient;
  close(): Promise<void>;
}

export async function liveServer(overrides: Partial<Config> = {}, options: AppOptions = {}): Promise<LiveServer> {
  const app = await makeApp(overrides, options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return { app, base, wsBase: `ws://127.0.0.1:${port}`, rest: new RestClient(base), close: () => app.close() };
}

/** Polls `cond` every `everyMs` until it holds; fails after `tries` polls. */
export async function waitFor(cond: () => boolean, what: string, tries = 400, everyMs = 10): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface RawSocket {
  ws: WebSocket;
  /** Every message so far: text parsed as JSON, binary decoded as { binary: frame }. */
  messages: any[];
  /** The next n messages not yet taken (waits for them). */
  next(n?: number): Promise<any[]>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
}

/** A socket without the typed client, for what the client would not send or would hide. */
/** A binary frame: a step_batch reply (the multiplexed socket's) or any other frame. */
function decodeBinary(d: Buffer) {
  return d[1] === BATCH_FRAME_KINDS.stepBatchReply ? decodeStepBatchReply(d) : decodeFrame(d);
}

export async function rawSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<RawSocket> {
  const ws = new WebSocket(url, options);
  const messages: any[] = [];
  ws.on('message', (d, isBinary) => messages.push(isBinary ? { binary: decodeBinary(d as Buffer) } : JSON.parse(d.toString())));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  let read = 0;
  return {
    ws,
    messages,
    closed,
    async next(n = 1) {
      await waitFor(() => messages.length >= read + n, `${n} more messages (have ${messages.length - read})`);
      const out = messages.slice(read, read + n);
      read += n;
      return out;
    },
  };
}

/** The limits a session socket's hello reports under the default configuration (docs/websocket.md, Limits). */
export const DEFAULT_HELLO_LIMITS = {
  maxPayloadBytes: 16 * 1024 * 1024,
  maxInFlight: 4096,
  rateLimitPerS: 50_000,
  rateBurst: 10_000,
  heartbeatIntervalS: 30,
  sendBufferBytes: 1024 * 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
};
