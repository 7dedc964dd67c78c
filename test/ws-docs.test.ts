/**
 * docs/websocket.md stays true: its walkthrough transcripts (a session's
 * socket, and the multiplexed socket) replayed line by line against a live
 * server give exactly the lines they show, and its close-code table lists
 * every code the server closes with.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeCodeFor } from '../src/ws/close-codes.js';
import { liveServer, rawSocket } from './helpers/ws.js';
import { doc, section } from './helpers/docs.js';

const websocket = doc('docs/websocket.md');

test('docs/websocket.md walkthrough: every line the server sends is the one shown', async () => {
  const walk = section(websocket, 'Walkthrough');
  const block = /```text\n([\s\S]*?)```/.exec(walk);
  assert.ok(block, 'the walkthrough has a text block');
  const lines = block[1].split('\n').filter((l) => l.startsWith('> ') || l.startsWith('< '));
  assert.ok(lines.length >= 20, `${lines.length} lines`);
  // The session of the HTTP walkthrough: the seed's MSTDP network, seed 1.
  const http = section(doc('docs/http-api.md'), 'Walkthrough');
  const create = /-d '(\{\n {2}"name": "seed-mstdp"[\s\S]*?\})' \\/.exec(http);
  assert.ok(create, 'the HTTP walkthrough creates the seed-mstdp session');
  const srv = await liveServer();
  try {
    const { id } = await srv.rest.createSession(JSON.parse(create[1]));
    const raw = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    for (const line of lines) {
      const text = line.slice(2).replaceAll('$ID', id);
      if (line.startsWith('> ')) raw.ws.send(text);
      else assert.deepEqual((await raw.next())[0], JSON.parse(text), line.slice(0, 80));
    }
    raw.ws.close();
  } finally {
    await srv.close();
  }
});

test('docs/websocket.md, one socket for many sessions: every line the server sends is the one shown', async () => {
  const block = /```text\n([\s\S]*?)```/.exec(section(websocket, 'One socket, many sessions'));
  assert.ok(block, 'the section has a text block');
  const lines = block[1].split('\n').filter((l) => l.startsWith('> ') || l.startsWith('< '));
  assert.ok(lines.length >= 10, `${lines.length} lines`);
  const create = /-d '(\{\n {2}"name": "seed-mstdp"[\s\S]*?\})' \\/.exec(section(doc('docs/http-api.md'), 'Walkthrough'));
  assert.ok(create, 'the HTTP walkthrough creates the seed-mstdp session');
  const srv = await liveServer();
  try {
    const a = (await srv.rest.createSession(JSON.parse(create[1]))).id;
    const b = (await srv.rest.createSession({ ...JSON.parse(create[1]), seed: 2 })).id;
    const raw = await rawSocket(`${srv.wsBase}/v1/ws`);
    for (const line of lines) {
      const text = line.slice(2).replaceAll('$A', a).replaceAll('$B', b);
      if (line.startsWith('> ')) raw.ws.send(text);
      else assert.deepEqual((await raw.next())[0], JSON.parse(text), line.slice(0, 80));
    }
    raw.ws.close();
  } finally {
    await srv.close();
  }
});

test('docs/websocket.md close codes: the table lists every code the server closes with', () => {
  const table = section(websocket, 'Close codes');
  const listed = new Set([...table.matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1])));
  for (const code of ['SHUTTING_DOWN', 'INTERNAL_ERROR', 'REQUEST_INVALID', 'UNAUTHORIZED', 'ORIGIN_NOT_ALLOWED', 'SESSION_NOT_FOUND', 'WS_CONTROLLER_TAKEN', 'WS_BUFFER_EXCEEDED', 'LIMIT_EXCEEDED'] as const) {
    assert.ok(listed.has(closeCodeFor(code)), `${code} closes with ${closeCodeFor(code)}, listed`);
  }
  for (const c of [1000, 1002, 1006, 1007, 1009]) assert.ok(listed.has(c), `${c} listed`);
});

/** The bytes of a documented frame: per line, the hex pairs before its comment. */
function hexBytes(lines: readonly string[]): Buffer {
  const out: number[] = [];
  for (const line of lines) {
    for (const token of line.trim().split(/\s+/)) {
      if (!/^[0-9a-f]{2}$/.test(token)) break;
      out.push(parseInt(token, 16));
    }
  }
  return Buffer.from(out);
}

test('docs/websocket.md, binary step_batch with rows per copy: the request shown, sent for a session of batch_size 2, gets the reply shown, byte for byte', async () => {
  const text = section(websocket, 'Binary step_batch', 3);
  const blocks = [...text.matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1].split('\n').filter((l) => l.trim() !== ''));
  const request = blocks.find((b) => b[0].startsWith('01 07'));
  assert.ok(request, 'the section shows a request (kind 7)');
  const headerLine = request.find((l) => l.startsWith('{'));
  assert.ok(headerLine, 'the request shows its JSON header');
  const header = headerLine.split(/\s{2,}/)[0];
  const prefix = hexBytes(request.slice(0, request.indexOf(headerLine)));
  assert.equal(prefix.length, 8);
  assert.equal(prefix.readUInt32LE(4), Buffer.byteLength(header), 'J is the length of the header shown');
  const values = hexBytes(request.slice(request.indexOf(headerLine) + 1));
  const replyBlock = blocks[blocks.indexOf(request) + 1];
  assert.ok(replyBlock?.[0].startsWith('01 08'), 'the reply (kind 8) follows the request');
  const reply = hexBytes(replyBlock);
  const create = /-d '(\{\n {2}"name": "seed-mstdp"[\s\S]*?\})' \\/.exec(section(doc('docs/http-api.md'), 'Walkthrough'));
  assert.ok(create, 'the HTTP walkthrough creates the seed-mstdp session');
  const body = JSON.parse(create[1]);
  const srv = await liveServer();
  try {
    const { id } = await srv.rest.createSession({ ...body, network: { ...body.network, batch_size: 2 } });
    const h = Buffer.from(header.replaceAll('$A', id), 'utf8');
    const start = (8 + h.length + 7) & ~7;
    const frame = Buffer.alloc(start + values.length);
    prefix.copy(frame, 0, 0, 4);
    frame.writeUInt32LE(h.length, 4);
    h.copy(frame, 8);
    values.copy(frame, start);
    const raw = await rawSocket(`${srv.wsBase}/v1/ws`);
    await raw.next();
    const got = new Promise<{ data: Buffer; isBinary: boolean }>((r) => raw.ws.once('message', (data, isBinary) => r({ data: data as Buffer, isBinary })));
    raw.ws.send(frame);
    const { data, isBinary } = await got;
    assert.ok(isBinary, `a binary reply: ${data.toString()}`);
    assert.equal(data.toString('hex'), reply.toString('hex'));
    raw.ws.close();
  } finally {
    await srv.close();
  }
});
