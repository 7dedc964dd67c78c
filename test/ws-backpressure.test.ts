/**
 * Backpressure, both ways, measured in bytes and counts rather than time:
 * an observer that never reads costs the server a bounded buffer and the
 * controller nothing (its events are dropped, counted and reported); a peer
 * that lets replies pile up past WS_MAX_BUFFERED_BYTES is cut; a controller
 * that pipelines without reading is simply no longer read from (at the quick
 * depth, test/helpers/fuzz.ts, it pipelines 100 steps rather than 300: reading
 * stops after a few dozen either way).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DroppedNotice } from '../src/api/ws.js';
import { atDepth } from './helpers/fuzz.js';
import { liveServer, rawSocket, waitFor } from './helpers/ws.js';

/** n -> n neurons, all-to-all: a weights event of n*n numbers (about 19 bytes each in JSON). */
function wide(n: number) {
  return {
    dt: 1,
    populations: { pre: { n }, post: { n } },
    connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 1 } },
  };
}

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

test('an observer that never reads: its buffer stays bounded, its events are dropped and counted, the controller is not held up', async () => {
  const sendBuffer = 256 * 1024;
  const srv = await liveServer({ wsSendBufferBytes: sendBuffer });
  try {
    const { id } = await srv.rest.createSession({ network: wide(200), seed: 1 });
    const eventBytes = JSON.stringify({ type: 'weights', step: 1000, pending: false, weights: (await srv.rest.weights(id)).weights }).length;
    assert.ok(eventBytes > 600_000, `one weights event is ${eventBytes} bytes`);
    const obs = await srv.rest.socket(id, { role: 'observer' });
    const seen: number[] = [];
    const notices: DroppedNotice[] = [];
    obs.on('weights', (e) => seen.push(e.step));
    obs.on('dropped', (n) => notices.push(n));
    await obs.subscribe({ stream: 'weights' });
    obs.pause();
    const ctl = await srv.rest.socket(id);
    const before = memory();
    // Unthinned, this would queue N * eventBytes (about 300 MB) for the observer.
    const N = 400;
    const replies = await Promise.all(Array.from({ length: N }, () => ctl.step({ inputs: { pre: 10 }, return: { spikes: 'none' } })));
    assert.deepEqual(
      replies.map((r) => r.step),
      Array.from({ length: N }, (_, t) => t + 1),
      'the controller got every reply while the observer read nothing',
    );
    const grown = memory() - before;
    const [info] = srv.app.websockets.connectionsOf(id).filter((c) => c.role === 'observer');
    const [ctlInfo] = srv.app.websockets.connectionsOf(id).filter((c) => c.role === 'controller');
    assert.ok(info.maxBuffered <= sendBuffer + eventBytes + 64, `the observer's send buffer peaked at ${info.maxBuffered} bytes`);
    assert.ok(info.eventsDropped > 0, 'events were dropped');
    assert.equal(info.eventsSent + info.eventsDropped, N, 'each step built at most one event, and only for a socket that could take it');
    assert.ok(info.eventsSent < N / 4, `${info.eventsSent} events sent`);
    assert.ok(grown < 96 * 1024 * 1024, `server and test together grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(ctlInfo.paused, false);
    assert.ok(ctlInfo.maxBuffered < 64 * 1024, `the controller's buffer peaked at ${ctlInfo.maxBuffered}`);
    assert.equal(srv.app.websockets.stats().eventsDropped, info.eventsDropped);

    // Reading again: what was sent arrives, then, once drained and with no
    // further step, the count of what was not and where the session is (the
    // events dropped last were its latest).
    obs.resume();
    await waitFor(() => seen.length === info.eventsSent, 'the buffered events');
    await waitFor(() => notices.length === 1, 'the dropped notice once the buffer drained');
    assert.deepEqual(notices, [{ type: 'dropped', count: info.eventsDropped, total: info.eventsDropped, step: N }]);
    assert.ok(seen[seen.length - 1] < N, 'the last events were among those dropped');
    await waitFor(() => srv.app.websockets.connectionsOf(id).find((c) => c.role === 'observer')!.bufferedAmount === 0, 'the buffer to drain');
    await ctl.step({ inputs: { pre: 10 } });
    await waitFor(() => seen.length === info.eventsSent + 1, 'the next event');
    assert.equal(notices.length, 1, 'nothing more was dropped');
    assert.equal(seen[seen.length - 1], N + 1);
    assert.deepEqual(await obs.unsubscribe(), { streams: ['weights'], dropped: info.eventsDropped });
    await Promise.all([obs.close(), ctl.close()]);
  } finally {
    await srv.close();
  }
});

// 200 x 200: a reply of about 750 kB in JSON; 500 x 500: of 1 MB in binary.
for (const [format, n] of [['json', 200], ['binary', 500]] as const) {
  test(`a peer whose unread replies (${format}) pass WS_MAX_BUFFERED_BYTES is closed (4413) and its buffer freed; the session carries on`, async () => {
    const srv = await liveServer({ wsSendBufferBytes: 64 * 1024, wsMaxBufferedBytes: 2 * 1024 * 1024 });
    try {
      const { id } = await srv.rest.createSession({ network: wide(n), seed: 1 });
      const raw = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws?role=observer&format=${format}`);
      await raw.next();
      raw.ws.pause();
      // About 30 MB of replies in JSON, 40 MB in binary, asked for in one burst.
      for (let i = 0; i < 40; i++) raw.ws.send(JSON.stringify({ type: 'weights', id: i }));
      await waitFor(() => srv.app.websockets.connectionsOf(id).length === 0, 'the server to cut the socket');
      assert.equal(srv.app.websockets.stats().closedSlow, 1);
      raw.ws.resume();
      const closed = await raw.closed;
      assert.ok(closed.code === 4413 || closed.code === 1006, `closed with ${closed.code}`);
      if (closed.code === 4413) assert.match(closed.reason, /^WS_BUFFER_EXCEEDED: /);
      const ctl = await srv.rest.socket(id);
      assert.equal((await ctl.step()).step, 1);
      await ctl.close();
    } finally {
      await srv.close();
    }
  });
}

test('a controller that pipelines without reading is no longer read from: requests in flight stay bounded, then every reply comes, in order', async () => {
  const maxInFlight = 16;
  const srv = await liveServer({ wsSendBufferBytes: 64 * 1024, wsMaxInFlight: maxInFlight });
  try {
    const { id } = await srv.rest.createSession({ network: wide(100), seed: 1 });
    const raw = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    await raw.next();
    raw.ws.pause();
    const N = atDepth(300, 100);
    for (let i = 0; i < N; i++) raw.ws.send(JSON.stringify({ type: 'step', id: i, return: { spikes: 'none', weights: true } }));
    await waitFor(() => srv.app.websockets.connectionsOf(id)[0]?.paused === true, 'the server to stop reading');
    // Give the server every chance to read more than it should.
    await new Promise((r) => setTimeout(r, 100));
    const info = srv.app.websockets.connectionsOf(id)[0];
    assert.ok(info.paused);
    assert.ok(info.inFlight <= maxInFlight, `${info.inFlight} requests in flight`);
    const ran = (await srv.rest.getSession(id)).step;
    assert.ok(ran < N, `${ran} of ${N} steps ran before reading stopped`);
    raw.ws.resume();
    const replies = await raw.next(N);
    assert.deepEqual(
      replies.map((r) => [r.id, r.result.step]),
      replies.map((_, i) => [i, i + 1]),
    );
    assert.equal((await srv.rest.getSession(id)).step, N);
    raw.ws.close();
  } finally {
    await srv.close();
  }
});
