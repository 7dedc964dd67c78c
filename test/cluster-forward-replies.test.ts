/**
 * A request passed on to another node gets that node's whole reply, however
 * the reply is framed: with content-length, chunked (trailers dropped),
 * after interim 1xx answers, or running to the end of its connection; the
 * hop-by-hop headers stay behind and a repeated header comes as all its
 * values. Kept-alive connections are reused, and one the other node closed
 * while idle is not. Against a real HTTP server on 127.0.0.1 answering as
 * each case says (the node forwarding is the Forwarder a cluster node uses).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Pool } from 'undici';
import { ForwardError, Forwarder, headerObject } from '../src/cluster/forward.js';

let server: Server;
let origin: string;
const forwarder = new Forwarder(Pool);
/** A body of many reads, each byte told apart by its place. */
/** 3 MB of varied bytes, filled in place: made from an array of 3 million numbers, it was most of what loading this file cost. */
const LARGE = Buffer.alloc(3_000_000);
for (let i = 0; i < LARGE.length; i++) LARGE[i] = Math.imul(i, 2654435761) >>> 24;
const seen: { method: string; url: string; headers: Record<string, unknown>; body: string; socket: unknown }[] = [];

before(async () => {
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(parts).toString(), socket: req.socket });
      switch (req.url) {
        case '/chunked':
          res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-t' });
          res.write('one,');
          res.write('two,');
          res.addTrailers({ 'x-t': '1' });
          res.end('three');
          return;
        case '/interim':
          res.writeProcessing();
          res.writeEarlyHints({ link: '</a>; rel=preload' }, () => res.writeHead(201, { 'content-length': '2' }).end('ok'));
          return;
        case '/repeated':
          res.setHeader('set-cookie', ['a=1', 'b=2']);
          res.end('{}');
          return;
        case '/large':
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(LARGE.length) }).end(LARGE);
          return;
        case '/large-chunked':
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          for (let at = 0; at < LARGE.length; at += 100_000) res.write(LARGE.subarray(at, at + 100_000));
          res.end();
          return;
        case '/empty':
          res.writeHead(204).end();
          return;
        default:
          res.writeHead(200, { 'content-type': 'application/json', 'keep-alive': 'timeout=5' }).end(JSON.stringify({ echo: Buffer.concat(parts).toString() }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await forwarder.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const req = (method: string, url: string, body: string | null = null) => ({
  method,
  url,
  headers: { host: 'api.example', 'content-type': 'application/json', connection: 'keep-alive' },
  body: body === null ? null : Buffer.from(body),
  hops: 0,
  requestId: 'r-1',
});

test('a reply with content-length comes whole; the request went with its headers, its body and the hop count; the connection is reused', async () => {
  const a = await forwarder.forward(origin, req('POST', '/v1/x?q=1', '{"a":1}'));
  assert.equal(a.status, 200);
  assert.deepEqual(JSON.parse(a.body.toString()), { echo: '{"a":1}' });
  assert.equal(headerObject(a.rawHeaders)['keep-alive'], undefined, 'hop-by-hop headers stay behind');
  assert.equal(headerObject(a.rawHeaders).connection, undefined);
  assert.equal(headerObject(a.rawHeaders)['content-length'], undefined, 'the length is the forwarder\'s to set');
  assert.equal(headerObject(a.rawHeaders)['content-type'], 'application/json');
  const first = seen.at(-1)!;
  assert.equal(first.url, '/v1/x?q=1');
  assert.equal(first.headers.host, 'api.example');
  assert.equal(first.headers['spikeserve-hops'], '1');
  assert.equal(first.headers['x-request-id'], 'r-1');
  assert.equal(first.headers['content-length'], '7');
  const b = await forwarder.forward(origin, req('GET', '/v1/y'));
  assert.equal(b.status, 200);
  assert.equal(seen.at(-1)!.socket, first.socket, 'the same kept-alive connection');
  assert.equal(seen.at(-1)!.headers['content-length'], undefined, 'a GET without a body announces none');
});

test('a chunked reply comes whole, without its trailers or transfer-encoding', async () => {
  const r = await forwarder.forward(origin, req('GET', '/chunked'));
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'one,two,three');
  const headers = headerObject(r.rawHeaders);
  assert.equal(headers['transfer-encoding'], undefined);
  assert.equal(headers['x-t'], undefined);
  assert.equal(headers['content-type'], 'text/plain');
});

test('interim 1xx answers are passed over for the final reply', async () => {
  const r = await forwarder.forward(origin, req('POST', '/interim', ''));
  assert.equal(r.status, 201);
  assert.equal(r.body.toString(), 'ok');
  assert.equal(seen.at(-1)!.headers['content-length'], '0', 'an empty POST body is announced');
});

test('a repeated header comes as all its values; a 204 has no body', async () => {
  const r = await forwarder.forward(origin, req('GET', '/repeated'));
  assert.deepEqual(headerObject(r.rawHeaders)['set-cookie'], ['a=1', 'b=2']);
  const e = await forwarder.forward(origin, req('DELETE', '/empty'));
  assert.equal(e.status, 204);
  assert.equal(e.body.length, 0);
  const again = await forwarder.forward(origin, req('GET', '/after-204'));
  assert.equal(again.status, 200, 'the connection after a 204 still reads the next reply');
});

test('large replies come whole and exact, several at once over their connections, with content-length or chunked', async () => {
  const replies = await Promise.all(['/large', '/large-chunked', '/large', '/large-chunked'].map((url) => forwarder.forward(origin, req('GET', url))));
  for (const r of replies) {
    assert.equal(r.status, 200);
    assert.equal(r.body.length, LARGE.length);
    assert.ok(r.body.equals(LARGE));
  }
});

test('a connection the other node closed while idle is not used again', async () => {
  await forwarder.forward(origin, req('GET', '/a'));
  const used = seen.at(-1)!.socket as Socket;
  used.destroy();
  await new Promise((r) => setTimeout(r, 50));
  const r = await forwarder.forward(origin, req('GET', '/b'));
  assert.equal(r.status, 200);
  assert.notEqual(seen.at(-1)!.socket, used);
});

test('a reply that runs to the end of its connection comes whole; a node that is not listening is a failure to send, one that cuts a reply off is not', async () => {
  const replies = ['HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it', 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart'];
  const raw: TcpServer = createTcpServer((s) => {
    s.once('data', () => s.end(replies.shift()!));
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const rawOrigin = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  try {
    const whole = await forwarder.forward(rawOrigin, req('GET', '/'));
    assert.equal(whole.body.toString(), 'all of it');
    await assert.rejects(forwarder.forward(rawOrigin, req('GET', '/')), (e: unknown) => e instanceof ForwardError && !e.notSent && /cut off/.test(e.message));
  } finally {
    await new Promise((r) => raw.close(r));
  }
  await assert.rejects(forwarder.forward(rawOrigin, req('GET', '/')), (e: unknown) => e instanceof ForwardError && e.notSent);
});
