/**
 * GET /metrics: Prometheus text format with the figures an operator watches,
 * moving as the service works: sessions, steps, step latency, refused
 * requests by code, and persistence (commits, records, lag) when on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { call, createSession, makeApp } from './helpers/http.js';

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  assert.ok(line, `metrics have ${series}`);
  return Number(line.slice(series.length + 1));
}

test('metrics follow sessions, steps, step latency, refusals and persistence', async () => {
  const app = await makeApp({ dataDir: mkdtempSync(join(tmpdir(), 'spikeserve-metrics-')) });
  try {
    const net = { populations: { a: { n: 4 }, b: { n: 2 } }, connections: { ab: { pre: 'a', post: 'b', rule: { type: 'STDP', lr: [0.01, 0.01] } } } };
    const id = await createSession(app, { network: net });
    await createSession(app, { network: net });
    for (let i = 0; i < 5; i++) assert.equal((await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 10, inputs: { a: 100 } })).status, 200);
    await call(app, 'GET', '/v1/sessions/00000000-0000-4000-8000-000000000000');
    await call(app, 'POST', `/v1/sessions/${id}/step`, { inputs: { nope: 1 } });
    await call(app, 'POST', `/v1/sessions/${id}/step`, { inputs: { nope: 1 } });

    const r = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const m = r.body;
    assert.equal(value(m, 'spikeserve_sessions'), 2);
    assert.equal(value(m, 'spikeserve_synapses'), 16);
    assert.equal(value(m, 'spikeserve_steps_total'), 50);
    assert.equal(value(m, 'spikeserve_step_duration_seconds_count'), 5);
    assert.ok(value(m, 'spikeserve_step_duration_seconds_sum') > 0);
    assert.equal(value(m, 'spikeserve_rejected_requests_total{code="SESSION_NOT_FOUND",transport="http"}'), 1);
    assert.equal(value(m, 'spikeserve_rejected_requests_total{code="INPUT_INVALID",transport="http"}'), 2);
    // Two creations and five steps: at least one commit, seven records or snapshots, all waited for.
    assert.ok(value(m, 'spikeserve_persist_commits_total') >= 1);
    assert.equal(value(m, 'spikeserve_persist_records_total'), 5);
    assert.ok(value(m, 'spikeserve_persist_snapshots_total') >= 2);
    assert.equal(value(m, 'spikeserve_persist_failures_total'), 0);
    assert.equal(value(m, 'spikeserve_persist_pending_records'), 0);
    assert.equal(value(m, 'spikeserve_persist_lag_seconds_count'), value(m, 'spikeserve_persist_commits_total'));
    assert.equal(value(m, 'spikeserve_restore_sessions{outcome="restored"}'), 0);
    assert.equal(value(m, 'spikeserve_overloaded'), 0);
    // The process's own figures come along.
    assert.ok(value(m, 'process_resident_memory_bytes') > 0);
    assert.match(m, /^nodejs_eventloop_lag_seconds /m);
  } finally {
    await app.close();
  }
});

test('two apps in one process keep separate metrics', async () => {
  const a = await makeApp();
  const b = await makeApp();
  try {
    await createSession(a, { network: { populations: { x: { n: 1 } } } });
    assert.equal(value((await a.inject({ method: 'GET', url: '/metrics' })).body, 'spikeserve_sessions'), 1);
    assert.equal(value((await b.inject({ method: 'GET', url: '/metrics' })).body, 'spikeserve_sessions'), 0);
  } finally {
    await a.close();
    await b.close();
  }
});
