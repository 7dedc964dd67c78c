/**
 * `snapshot`, `weights` and `set_weights` replies over a WebSocket are
 * written in slices and sent as the fragments of one message (JSON text, or
 * a binary weights frame): the client reads the same text, or bytes, as the
 * reply written in one go, nothing else is sent between its fragments (the
 * replies after it and the events meanwhile wait, in order), and the server
 * holds no more than WS_SEND_BUFFER_BYTES and a slice of it at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import type { MessageId } from '../src/api/ws.js';
import type { Session } from '../src/sessions/manager.js';
import { decodeFrame, encodeFrame, type SectionInput } from '../src/ws/binary-format.js';
import { replyText } from '../src/ws/ordered-socket.js';
import { liveServer, type LiveServer } from './helpers/ws.js';

/** A socket whose messages are kept as received: text, and the bytes of each (binary frames as they are). */
async function textSocket(url: string): Promise<{ ws: WebSocket; texts: string[]; raw: Buffer[]; next: (n?: number) => Promise<string[]>; nextRaw: () => Promise<Buffer> }> {
  const ws = new WebSocket(url, { maxPayload: 1024 ** 3, perMessageDeflate: false });
  const texts: string[] = [];
  const raw: Buffer[] = [];
  const waiting: (() => void)[] = [];
  ws.on('message', (d: Buffer) => {
    raw.push(d);
    texts.push(d.toString('utf8'));
    waiting.splice(0).forEach((w) => w());
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let read = 0;
  const next = async (n = 1) => {
    while (texts.length < read + n) await new Promise<void>((r) => waiting.push(r));
    read += n;
    return texts.slice(read - n, read);
  };
  const nextRaw = async () => {
    await next();
    return raw[read - 1];
  };
  return { ws, texts, raw, next, nextRaw };
}

/** The binary weights frame as it was built in one go: from [rows][cols] replies, the pending flag as the session has it. */
function weightsFrameInOneGo(session: Session, id: MessageId | undefined, step: number, weights: Record<string, number[][]>): Buffer {
  const sections: SectionInput[] = Object.entries(weights).map(([c, values]) => {
    const [rows, cols] = session.shapeOf(c);
    return { type: 'weights', index: session.connectionNames.indexOf(c), rows, cols, values };
  });
  return encodeFrame({ kind: 'weights', id, step, pending: session.summary().pending, sections });
}

/** bc's weights: some past its bounds (clamped), some not exact in float32. */
const BC_WEIGHTS = Array.from({ length: 40 }, (_, i) => Array.from({ length: 5 }, (_, j) => ((i * 5 + j) % 9) / 3 - 1.4 + 0.1));

const SMALL = {
  dt: 1,
  populations: { a: { n: 30 }, b: { n: 40 }, c: { n: 5 } },
  connections: {
    ab: { pre: 'a', post: 'b', rule: { type: 'MSTDPET', lr: [0.01, 0.01] } },
    bc: { pre: 'b', post: 'c', w_min: -1, w_max: 1 },
  },
};

async function smallSession(srv: LiveServer): Promise<string> {
  const { id } = await srv.rest.createSession({ network: SMALL, seed: 7 });
  // Weights and traces off their initial values, a reward pending.
  await srv.rest.step(id, { steps: 20, inputs: { a: 40 }, deferReward: true });
  return id;
}

test('the text of snapshot and weights replies is what JSON.stringify writes of the reply, on a session\'s socket and on the multiplexed one', async () => {
  const srv = await liveServer();
  try {
    const id = await smallSession(srv);
    const session = await srv.app.sessions.open(id);
    const own = await textSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    const mux = await textSocket(`${srv.wsBase}/v1/ws`);
    await own.next();
    await mux.next();
    const cases: [object, string, () => Promise<unknown>][] = [
      [{ type: 'snapshot', id: 1 }, 'snapshot', () => session.snapshot()],
      [{ type: 'snapshot' }, 'snapshot', () => session.snapshot()],
      [{ type: 'weights', id: 'w' }, 'weights', () => session.allWeights()],
      [{ type: 'weights', id: 3, connection: 'bc' }, 'weights', () => session.weights('bc')],
    ];
    for (const [msg, request, expected] of cases) {
      const mid = (msg as { id?: string | number }).id;
      own.ws.send(JSON.stringify(msg));
      const [got] = await own.next();
      assert.equal(got, replyText(request, mid, await expected()), JSON.stringify(msg));
      mux.ws.send(JSON.stringify({ ...msg, session: id }));
      const [gotMux] = await mux.next();
      assert.equal(gotMux, replyText(request, mid, await expected(), id), `multiplexed ${JSON.stringify(msg)}`);
    }
    // set_weights: the reply to writing the same weights again, in one go, is the same.
    own.ws.send(JSON.stringify({ type: 'set_weights', id: 5, connection: 'bc', weights: BC_WEIGHTS }));
    const [set] = await own.next();
    assert.equal(set, replyText('set_weights', 5, await session.setWeights('bc', BC_WEIGHTS)));
    mux.ws.send(JSON.stringify({ type: 'set_weights', id: 6, session: id, connection: 'bc', weights: BC_WEIGHTS }));
    const [setMux] = await mux.next();
    assert.equal(setMux, replyText('set_weights', 6, await session.setWeights('bc', BC_WEIGHTS), id), 'multiplexed set_weights');
    own.ws.send(JSON.stringify({ type: 'weights', id: 4, connection: 'nope' }));
    const [err] = await own.next();
    assert.equal(JSON.parse(err).error.code, 'CONNECTION_NOT_FOUND');
    own.ws.close();
    mux.ws.close();
  } finally {
    await srv.close();
  }
});

test('binary weights frames, to weights and set_weights, are the bytes of the frame built in one go', async () => {
  const srv = await liveServer();
  try {
    const id = await smallSession(srv);
    const session = await srv.app.sessions.open(id);
    // A step deferring its reward: the frames carry the pending flag.
    assert.equal(session.summary().pending, true);
    const bin = await textSocket(`${srv.wsBase}/v1/sessions/${id}/ws?format=binary`);
    const json = await textSocket(`${srv.wsBase}/v1/sessions/${id}/ws?role=observer`);
    await bin.next();
    await json.next();
    const all = await session.allWeights();
    bin.ws.send(JSON.stringify({ type: 'weights', id: 1 }));
    assert.deepEqual(await bin.nextRaw(), weightsFrameInOneGo(session, 1, all.step, all.weights), 'weights, every connection');
    const ab = await session.weights('ab');
    bin.ws.send(JSON.stringify({ type: 'weights', id: 'x', connection: 'ab' }));
    assert.deepEqual(await bin.nextRaw(), weightsFrameInOneGo(session, 'x', ab.step, { ab: ab.weights }), 'weights, one connection');
    // Asked for in binary on a JSON socket, without an id.
    json.ws.send(JSON.stringify({ type: 'weights', connection: 'bc', format: 'binary' }));
    const bc = await session.weights('bc');
    assert.deepEqual(await json.nextRaw(), weightsFrameInOneGo(session, undefined, bc.step, { bc: bc.weights }), 'weights in binary on a JSON socket');
    bin.ws.send(JSON.stringify({ type: 'set_weights', id: 2, connection: 'bc', weights: BC_WEIGHTS }));
    const got = await bin.nextRaw();
    const set = await session.setWeights('bc', BC_WEIGHTS);
    assert.deepEqual(got, weightsFrameInOneGo(session, 2, set.step, { bc: set.weights }), 'set_weights');
    bin.ws.send(JSON.stringify({ type: 'weights', id: 3, connection: 'nope' }));
    const [err] = await bin.next();
    assert.equal(JSON.parse(err).error.code, 'CONNECTION_NOT_FOUND');
    bin.ws.close();
    json.ws.close();
  } finally {
    await srv.close();
  }
});

test('a large reply goes out as the client reads; a step sent right after it is answered after it, its events not inside it', async () => {
  const sendBuffer = 256 * 1024;
  const srv = await liveServer({ wsSendBufferBytes: sendBuffer });
  try {
    // 1200 x 1200: 5.8 MB in a binary frame, the smallest that the loopback socket's buffers do not take in one go.
    const n = 1200;
    const { id } = await srv.rest.createSession({ network: { populations: { a: { n }, b: { n } }, connections: { ab: { pre: 'a', post: 'b' } } }, seed: 1 });
    const s = await textSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    await s.next();
    s.ws.send(JSON.stringify({ type: 'subscribe', id: 0, stream: 'spikes' }));
    await s.next();
    // Sixteenths (0.0625, 0.5, ...): about 9 MB of text each way, under WS_MAX_PAYLOAD_BYTES. The
    // binary requests go first, while the socket's buffers are at their smallest; after the binary
    // set_weights, the JSON replies print these short numbers (the session's initial weights would
    // print 17 digits each: three times the text, three times the work).
    const row = (i: number) => {
      const r = new Array<number>(n);
      for (let j = 0; j < n; j++) r[j] = ((i * n + j) % 16) / 16;
      return r;
    };
    const w = Array.from({ length: n }, (_, i) => row(i));
    const requests: [object, string, number][] = [
      [{ type: 'weights', format: 'binary' }, 'binary weights', 4 * n * n],
      [{ type: 'set_weights', connection: 'ab', weights: w, format: 'binary' }, 'binary set_weights', 4 * n * n],
      [{ type: 'set_weights', connection: 'ab', weights: w }, 'set_weights', 8_000_000],
      [{ type: 'snapshot' }, 'snapshot', 8_000_000],
      [{ type: 'weights' }, 'weights', 8_000_000],
    ];
    for (const [msg, what, size] of requests) {
      const before = s.texts.length;
      s.ws.send(JSON.stringify({ ...msg, id: 1 }));
      s.ws.send(JSON.stringify({ type: 'step', id: 2, inputs: { a: 200 }, return: { spikes: 'none' } }));
      const [big, ...rest] = await s.next(3);
      assert.equal(s.texts.length, before + 3);
      const bytes = s.raw[before];
      assert.ok(bytes.length > size, `${what}: ${bytes.length} bytes`);
      if (what.startsWith('binary')) {
        const frame = decodeFrame(bytes);
        assert.equal(frame.kind, 'weights', what);
        assert.equal(frame.id, 1, what);
        assert.equal(frame.sections.length, 1, what);
      } else {
        const reply = JSON.parse(big);
        assert.equal(reply.type, 'reply', what);
        assert.equal(reply.id, 1, what);
        assert.equal(reply.request, (msg as { type: string }).type, what);
      }
      const others = rest.map((t) => JSON.parse(t));
      assert.deepEqual(
        others.map((m) => [m.type, m.id]),
        [['spikes', undefined], ['reply', 2]],
        `${what}: the step's event, then its reply, both after the large reply`,
      );
    }
    const [info] = srv.app.websockets.connectionsOf(id);
    // Built in one go, the whole reply would wait in the send buffer at once.
    assert.ok(info.maxBuffered < sendBuffer + 2 * 1024 * 1024, `the send buffer peaked at ${info.maxBuffered} bytes`);
    s.ws.close();
  } finally {
    await srv.close();
  }
});
