/**
 * What a client resuming after a dropped socket relies on: the commands that
 * ran are a prefix of those the old socket sent, and the next controller's
 * hello reports the session's state after all of them (docs/websocket.md).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveServer, rawSocket, waitFor } from './helpers/ws.js';

/** Slow enough per step that a long step is still running when the next socket opens. */
const WIDE_NETWORK = {
  populations: { pre: { n: 300 }, post: { n: 300 } },
  connections: { pre_post: { pre: 'pre', post: 'post', rule: { type: 'STDP', lr: [0.0003, 0.0002] } } },
};

test("a new controller's hello counts the commands its dropped predecessor had queued", async () => {
  const srv = await liveServer({ stepSliceMs: 1 });
  try {
    const { id } = await srv.rest.createSession({ network: WIDE_NETWORK });
    const old = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    await old.next(); // hello
    old.ws.send(JSON.stringify({ type: 'step', id: 1, steps: 5000, inputs: { pre: 20 }, return: { spikes: 'none' } }));
    old.ws.send(JSON.stringify({ type: 'step', id: 2, steps: 3, return: { spikes: 'none' } }));
    await waitFor(() => srv.app.websockets.connectionsOf(id).some((c) => c.inFlight === 2), 'the server to read both steps');
    old.ws.terminate();
    await waitFor(() => srv.app.websockets.connectionsOf(id).length === 0, 'the server to see the socket go');
    const session = srv.app.sessions.get(id);
    assert.ok(session.busy, 'the long step still runs as the next socket opens (make it longer if this fails)');
    const next = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    const [hello] = await next.next();
    assert.equal(hello.type, 'hello');
    assert.equal(hello.session.step, 5003, 'both queued steps ran, and the hello came after them');
    next.ws.send(JSON.stringify({ type: 'step', id: 3, return: { spikes: 'none' } }));
    const [reply] = await next.next();
    assert.equal(reply.result.step, 5004);
    next.ws.close();
  } finally {
    await srv.close();
  }
});

test('a request read from a socket that is already closing is not run', async () => {
  // Reading pauses at WS_MAX_IN_FLIGHT: the rest wait, read but not run, and
  // the socket closes before they could be answered.
  const srv = await liveServer({ stepSliceMs: 1, wsMaxInFlight: 1 });
  try {
    const { id } = await srv.rest.createSession({ network: WIDE_NETWORK });
    const old = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    await old.next();
    old.ws.send(JSON.stringify({ type: 'step', id: 1, steps: 3000, inputs: { pre: 20 }, return: { spikes: 'none' } }));
    for (let i = 2; i <= 20; i++) old.ws.send(JSON.stringify({ type: 'step', id: i, return: { spikes: 'none' } }));
    // Paused for as long as the first request runs (tens of milliseconds): looked for every millisecond, so a late timer on a busy machine does not miss it.
    await waitFor(() => srv.app.websockets.connectionsOf(id).some((c) => c.paused), 'the server to stop reading', 4000, 1);
    old.ws.terminate();
    await waitFor(() => srv.app.websockets.connectionsOf(id).length === 0, 'the server to see the socket go');
    const next = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    const [hello] = await next.next();
    await srv.app.sessions.get(id).drained();
    const after = await srv.rest.getSession(id);
    assert.equal(hello.session.step, after.step, 'nothing of the old socket ran after the hello');
    next.ws.close();
  } finally {
    await srv.close();
  }
});
