/**
 * `snapshot` and `weights` replies over a WebSocket are written in slices and
 * sent as the fragments of one message: the client reads the same text as
 * the reply written in one go, nothing else is sent between its fragments
 * (the replies after it and the events meanwhile wait, in order), and the
 * server holds no more than WS_SEND_BUFFER_BYTES and a slice of it at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { replyText } from '../src/ws/ordered-socket.js';
import { liveServer, type LiveServer } from './helpers/ws.js';

/** A socket whose messages are kept as the text received. */
async function textSocket(url: string): Promise<{ ws: WebSocket; texts: string[]; next: (n?: number) => Promise<string[]> }> {
  const ws = new WebSocket(url, { maxPayload: 1024 ** 3, perMessageDeflate: false });
  const texts: string[] = [];
  const waiting: (() => void)[] = [];
  ws.on('message', (d: Buffer) => {
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
  return { ws, texts, next };
}

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
    own.ws.send(JSON.stringify({ type: 'weights', id: 4, connection: 'nope' }));
    const [err] = await own.next();
    assert.equal(JSON.parse(err).error.code, 'CONNECTION_NOT_FOUND');
    own.ws.close();
    mux.ws.close();
  } finally {
    await srv.close();
  }
});

test('a large reply goes out as the client reads; a step sent right after it is answered after it, its events not inside it', async () => {
  const sendBuffer = 256 * 1024;
  const srv = await liveServer({ wsSendBufferBytes: sendBuffer });
  try {
    // 1200 x 1200: about 27 MB of JSON text in a weights reply, more in a snapshot.
    const n = 1200;
    const { id } = await srv.rest.createSession({ network: { populations: { a: { n }, b: { n } }, connections: { ab: { pre: 'a', post: 'b' } } }, seed: 1 });
    const s = await textSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    await s.next();
    s.ws.send(JSON.stringify({ type: 'subscribe', id: 0, stream: 'spikes' }));
    await s.next();
    for (const request of ['snapshot', 'weights']) {
      const before = s.texts.length;
      s.ws.send(JSON.stringify({ type: request, id: 1 }));
      s.ws.send(JSON.stringify({ type: 'step', id: 2, inputs: { a: 200 }, return: { spikes: 'none' } }));
      const [big, ...rest] = await s.next(3);
      assert.equal(s.texts.length, before + 3);
      assert.ok(big.length > 20_000_000, `${big.length} characters`);
      const reply = JSON.parse(big);
      assert.equal(reply.type, 'reply');
      assert.equal(reply.id, 1);
      assert.equal(reply.request, request);
      const others = rest.map((t) => JSON.parse(t));
      assert.deepEqual(
        others.map((m) => [m.type, m.id]),
        [['spikes', undefined], ['reply', 2]],
        'the step\'s event, then its reply, both after the large reply',
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
