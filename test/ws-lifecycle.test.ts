/**
 * How sockets end: with their session (deleted over HTTP, evicted after
 * being idle: 4404 and the reason), with the server (1001 once the replies to
 * what was read are out), and when the peer is dead (no answer to a ping).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { liveServer, rawSocket, waitFor } from './helpers/ws.js';

test('a session deleted over HTTP closes its controller and observers with 4404 "session deleted"', async () => {
  const srv = await liveServer();
  try {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    const ctl = await srv.rest.socket(id);
    const obs = [await srv.rest.socket(id, { role: 'observer' }), await srv.rest.socket(id, { role: 'observer', format: 'binary' })];
    await obs[0].subscribe({ stream: 'spikes' });
    await ctl.step();
    await srv.rest.deleteSession(id);
    for (const s of [ctl, ...obs]) assert.deepEqual(await s.whenClosed(), { code: 4404, reason: 'SESSION_NOT_FOUND: session deleted' });
    await waitFor(() => srv.app.websockets.stats().connections === 0, 'the server to let go of the sockets');
  } finally {
    await srv.close();
  }
});

test('an idle session is evicted as over HTTP, an open socket notwithstanding, and its sockets closed with the reason', async () => {
  let now = 1_000_000;
  const srv = await liveServer({ sessionIdleTimeoutS: 1 }, { sessions: { now: () => now } });
  try {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    const ctl = await srv.rest.socket(id);
    const obs = await srv.rest.socket(id, { role: 'observer' });
    now += 800;
    await ctl.step(); // a command over the socket counts as use
    now += 800;
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(ctl.isOpen, 'used 800 ms ago: kept');
    now += 1000;
    for (const s of [ctl, obs]) assert.deepEqual(await s.whenClosed(), { code: 4404, reason: 'SESSION_NOT_FOUND: session evicted after being idle' });
    await assert.rejects(srv.rest.getSession(id), { status: 404 });
  } finally {
    await srv.close();
  }
});

test('closing the server answers what was read, then closes every socket with 1001', async () => {
  const srv = await liveServer();
  const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
  // Without reconnecting: what is tested here is the server's close (the client would try to open the socket again).
  const ctl = await srv.rest.socket(id, { reconnect: false });
  const obs = await srv.rest.socket(id, { role: 'observer', reconnect: false });
  const long = ctl.step({ steps: 100_000, return: { spikes: 'none' } });
  const after = ctl.step({ return: { spikes: 'none' } });
  await waitFor(() => srv.app.websockets.connectionsOf(id).some((c) => c.inFlight === 2), 'the server to read both');
  const closing = srv.close();
  assert.equal((await long).step, 100_000, 'the step in flight finished and was answered');
  assert.equal((await after).step, 100_001);
  for (const s of [ctl, obs]) assert.deepEqual(await s.whenClosed(), { code: 1001, reason: 'SHUTTING_DOWN: the server is shutting down' });
  await closing;
});

test('the heartbeat closes a peer that stops answering pings, and keeps one that answers', async () => {
  // A peer must answer within an interval: a quarter second, which a loaded machine's event loop still keeps.
  const srv = await liveServer({ wsHeartbeatIntervalS: 0.25 });
  try {
    const { id } = await srv.rest.createSession({ network: SEED_MSTDP_NETWORK });
    const alive = await srv.rest.socket(id, { role: 'observer' });
    // A peer gone silent: its client never answers a ping.
    const dead = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`, { autoPong: false });
    await dead.next();
    const closed = await dead.closed;
    assert.equal(closed.code, 1006, 'cut without a close frame: the peer is presumed gone');
    assert.equal(srv.app.websockets.stats().closedDead, 1);
    assert.ok(alive.isOpen);
    // Its controller place is free again.
    const ctl = await srv.rest.socket(id);
    // Three heartbeats.
    await new Promise((r) => setTimeout(r, 800));
    assert.ok(alive.isOpen && ctl.isOpen, 'peers that answer stay');
    assert.equal((await ctl.step()).step, 1);
    await Promise.all([alive.close(), ctl.close()]);
  } finally {
    await srv.close();
  }
});
