/**
 * GET /metrics and the WebSocket endpoint: open sockets by role, stream
 * events sent and dropped (an observer that does not read), and error
 * replies and refused sockets under the rejected counter with transport="ws".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveServer, rawSocket, waitFor } from './helpers/ws.js';

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  assert.ok(line, `metrics have ${series}`);
  return Number(line.slice(series.length + 1));
}

const NET = { dt: 1, populations: { pre: { n: 120 }, post: { n: 120 } }, connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 1 } } };

test('metrics count sockets by role, stream events sent and dropped, and WebSocket errors by code', async () => {
  const srv = await liveServer({ wsSendBufferBytes: 64 * 1024 });
  try {
    const scrape = async () => (await fetch(`${srv.base}/metrics`)).text();
    const empty = await scrape();
    assert.equal(value(empty, 'spikeserve_ws_connections{role="controller"}'), 0);
    assert.equal(value(empty, 'spikeserve_ws_events_dropped_total'), 0);

    const { id } = await srv.rest.createSession({ network: NET, seed: 1 });
    const obs = await srv.rest.socket(id, { role: 'observer' });
    await obs.subscribe({ stream: 'weights' });
    obs.pause(); // reads nothing: its weights events (~250 kB each) soon no longer fit
    const ctl = await srv.rest.socket(id);
    const N = 60;
    await Promise.all(Array.from({ length: N }, () => ctl.step({ inputs: { pre: 10 }, return: { spikes: 'none' } })));
    // Errors: two bad requests on the controller, one write from the observer, one refused socket.
    await assert.rejects(ctl.step({ inputs: { nope: 1 } }), { code: 'INPUT_INVALID' });
    await assert.rejects(ctl.step({ inputs: { nope: 1 } }), { code: 'INPUT_INVALID' });
    const second = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
    assert.equal((await second.closed).code, 4409);
    const raw = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws?role=observer`);
    await raw.next(); // hello
    raw.ws.send(JSON.stringify({ type: 'reset', id: 1 }));
    assert.equal((await raw.next())[0].error.code, 'WS_READ_ONLY');

    const m = await scrape();
    const stats = srv.app.websockets.stats();
    assert.equal(value(m, 'spikeserve_ws_connections{role="controller"}'), 1);
    assert.equal(value(m, 'spikeserve_ws_connections{role="observer"}'), 2);
    assert.ok(stats.eventsDropped > 0, 'the observer that did not read had events dropped');
    assert.equal(value(m, 'spikeserve_ws_events_dropped_total'), stats.eventsDropped);
    assert.equal(value(m, 'spikeserve_ws_events_sent_total'), stats.eventsSent);
    assert.equal(stats.eventsSent + stats.eventsDropped, N);
    assert.equal(value(m, 'spikeserve_rejected_requests_total{code="INPUT_INVALID",transport="ws"}'), 2);
    assert.equal(value(m, 'spikeserve_rejected_requests_total{code="WS_CONTROLLER_TAKEN",transport="ws"}'), 1);
    assert.equal(value(m, 'spikeserve_rejected_requests_total{code="WS_READ_ONLY",transport="ws"}'), 1);
    assert.ok(!m.includes('transport="http"'), 'nothing over HTTP was refused');

    raw.ws.close();
    obs.resume();
    await Promise.all([obs.close(), ctl.close()]);
    await waitFor(() => srv.app.websockets.stats().connections === 0, 'the sockets to close');
    assert.equal(value(await scrape(), 'spikeserve_ws_connections{role="observer"}'), 0);
  } finally {
    await srv.close();
  }
});
