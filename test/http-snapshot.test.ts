/**
 * Export and import: a session restored from its snapshot continues exactly as
 * the original would, a fork runs on its own without touching the original,
 * and bad snapshots are refused with the right code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Rng } from '../src/engine/random.js';
import { call, createSession, makeApp } from './helpers/http.js';
import { forTests } from './helpers/for-tests.js';

const NETWORK = {
  dt: 0.5,
  populations: { inp: { n: 5, refrac_length: 1 }, hid: { n: 4, refrac_length: 0 }, out: { n: 3, refrac_length: 2, additive_spike_trace: true } },
  connections: {
    inp_hid: { pre: 'inp', post: 'hid', w_max: 3, rule: { type: 'MSTDP', lr: [0.05, 0] } },
    hid_out: { pre: 'hid', post: 'out', w_max: 3, rule: { type: 'STDP', lr: [0.01, 0.02], boundary: 'soft' } },
    out_hid: { pre: 'out', post: 'hid', w_max: 1, rule: { type: 'NoOp', weight_decay: 0.001 } },
  },
};

/** A deterministic stream of step requests: random inputs and rewards, a few at a time. */
function commands(seed: number, count: number) {
  const rng = new Rng(seed);
  const out: Record<string, unknown>[] = [];
  for (let k = 0; k < count; k++) {
    const steps = 1 + Math.floor(rng.nextFloat() * 5);
    const inp = Array.from({ length: steps }, () => Array.from({ length: 5 }, () => Math.round(rng.nextFloat() * 300) / 100));
    out.push({ steps, inputs: { inp }, reward: Math.round((rng.nextFloat() * 2 - 1) * 100) / 100, return: { potentials: true, weights: true } });
  }
  return out;
}

async function play(app: FastifyInstance, id: string, cmds: Record<string, unknown>[]) {
  const results = [];
  for (const c of cmds) {
    const r = await call(app, 'POST', `/v1/sessions/${id}/step`, c);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    results.push(r.body);
  }
  return results;
}

describe('snapshots over HTTP', () => {
  const app = forTests(() => makeApp());

  test('snapshot -> new session -> continue gives the same as continuing the original, pending update included', async () => {
    const a = await createSession(app(), { network: NETWORK, seed: 7 });
    await play(app(), a, commands(1, 30));
    // Leave an update pending: the snapshot must carry it.
    const deferred = await call(app(), 'POST', `/v1/sessions/${a}/step`, { inputs: { inp: 2 }, deferReward: true });
    assert.equal(deferred.body.pending, true);
    const snap = await call(app(), 'GET', `/v1/sessions/${a}/snapshot`);
    assert.equal(snap.status, 200);
    assert.equal(snap.body.pending, true);
    const b = await createSession(app(), { snapshot: snap.body, name: 'restored' });

    const detailB = await call(app(), 'GET', `/v1/sessions/${b}`);
    assert.equal(detailB.body.step, deferred.body.step);
    assert.equal(detailB.body.pending, true);
    assert.equal(detailB.body.seed, 7);
    assert.equal(detailB.body.name, 'restored');

    for (const id of [a, b]) assert.equal((await call(app(), 'POST', `/v1/sessions/${id}/reward`, { reward: 0.7 })).status, 200);
    const next = commands(2, 40);
    const ra = await play(app(), a, next);
    const rb = await play(app(), b, next);
    assert.deepEqual(rb, ra);
    assert.deepEqual((await call(app(), 'GET', `/v1/sessions/${b}/state`)).body, (await call(app(), 'GET', `/v1/sessions/${a}/state`)).body);
    const [sb, sa] = [(await call(app(), 'GET', `/v1/sessions/${b}/snapshot`)).body, (await call(app(), 'GET', `/v1/sessions/${a}/snapshot`)).body];
    assert.deepEqual({ ...sb, name: null }, sa, 'the same but for the name');
  });

  test('a restored session keeps its name unless given a new one; the snapshot carries it', async () => {
    const id = await createSession(app(), { network: NETWORK, name: 'cartpole-run-7' });
    const snap = (await call(app(), 'GET', `/v1/sessions/${id}/snapshot`)).body;
    assert.equal(snap.name, 'cartpole-run-7');
    const kept = await call(app(), 'POST', '/v1/sessions', { snapshot: snap });
    assert.equal(kept.status, 201, JSON.stringify(kept.body));
    assert.equal(kept.body.name, 'cartpole-run-7');
    assert.equal((await call(app(), 'GET', `/v1/sessions/${kept.body.id}`)).body.name, 'cartpole-run-7');
    const renamed = await call(app(), 'POST', '/v1/sessions', { snapshot: snap, name: 'fork' });
    assert.equal(renamed.body.name, 'fork');
    // A snapshot from before snapshots carried a name restores unnamed.
    const { name: _name, ...old } = snap;
    assert.equal((await call(app(), 'POST', '/v1/sessions', { snapshot: old })).body.name, null);
  });

  test('a fork diverges independently: stepping it leaves the original exactly where it would be alone', async () => {
    const a = await createSession(app(), { network: NETWORK, seed: 11 });
    await play(app(), a, commands(3, 10));
    const snap = (await call(app(), 'GET', `/v1/sessions/${a}/snapshot`)).body;
    const fork = await createSession(app(), { snapshot: snap });
    const reference = await createSession(app(), { snapshot: snap });

    // Interleave: the fork gets other inputs, the original and the reference the same ones.
    const mine = commands(4, 20);
    const theirs = commands(5, 20);
    const ra = [];
    const rf = [];
    for (let k = 0; k < mine.length; k++) {
      ra.push(...(await play(app(), a, [mine[k]])));
      rf.push(...(await play(app(), fork, [theirs[k]])));
    }
    const rr = await play(app(), reference, mine);
    assert.deepEqual(ra, rr, 'the original is unaffected by its fork');
    const wa = (await call(app(), 'GET', `/v1/sessions/${a}/weights`)).body.weights;
    const wf = (await call(app(), 'GET', `/v1/sessions/${fork}/weights`)).body.weights;
    assert.notDeepEqual(wf, wa, 'the fork went its own way');

    // Writing the fork's weights or resetting it does not reach the original either.
    await call(app(), 'PUT', `/v1/sessions/${fork}/weights/out_hid`, { weights: [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]] });
    await call(app(), 'POST', `/v1/sessions/${fork}/reset`, { weights: true });
    assert.deepEqual((await call(app(), 'GET', `/v1/sessions/${a}/weights`)).body.weights, wa);
  });

  test('a snapshot of another version is refused with 422, a malformed one with 400 naming the field', async () => {
    const a = await createSession(app(), { network: NETWORK });
    const snap = (await call(app(), 'GET', `/v1/sessions/${a}/snapshot`)).body;

    let r = await call(app(), 'POST', '/v1/sessions', { snapshot: { ...snap, version: 3 } });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.code, 'SNAPSHOT_VERSION_UNSUPPORTED');
    assert.match(r.body.error.message, /snapshot\.version/);

    r = await call(app(), 'POST', '/v1/sessions', { snapshot: { ...snap, format: 'other' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'SNAPSHOT_INVALID');
    assert.match(r.body.error.message, /^snapshot\.format: /);

    const shortV = structuredClone(snap);
    shortV.state.populations.hid.v = [0, 0];
    r = await call(app(), 'POST', '/v1/sessions', { snapshot: shortV });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'SNAPSHOT_INVALID');
    assert.equal(r.body.error.details.field, 'snapshot.state.populations.hid.v');

    r = await call(app(), 'POST', '/v1/sessions', { snapshot: { format: 'spikeserve-snapshot' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'SNAPSHOT_INVALID');
    assert.match(r.body.error.message, /^snapshot\.version: required/);

    r = await call(app(), 'POST', '/v1/sessions', { snapshot: snap, seed: 3 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'REQUEST_INVALID');
    assert.match(r.body.error.message, /^seed: /);

    r = await call(app(), 'POST', '/v1/sessions', { snapshot: snap, network: NETWORK });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'REQUEST_INVALID');
    assert.match(r.body.error.message, /exactly one/);
  });

  test('a snapshot bigger than this server\'s limits is refused with 422 LIMIT_EXCEEDED', async () => {
    const a = await createSession(app(), { network: NETWORK });
    const snap = (await call(app(), 'GET', `/v1/sessions/${a}/snapshot`)).body;
    const small = await makeApp({ maxNeurons: 10 });
    try {
      const r = await call(small, 'POST', '/v1/sessions', { snapshot: snap });
      assert.equal(r.status, 422);
      assert.equal(r.body.error.code, 'LIMIT_EXCEEDED');
      assert.equal(r.body.error.details.limit, 'maxNeurons');
    } finally {
      await small.close();
    }
  });
});
