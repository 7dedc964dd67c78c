/**
 * Every golden case replayed over HTTP gives the same spikes and weights as
 * the engine alone (replay()), and as the case expects: once a request per
 * step (at the quick depth, the first 100 steps so and the rest in one
 * request), and once the whole case in one request with one input vector and
 * one reward per step (where the network learns from rewards).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { replay, type ReplayCase } from '../src/engine/index.js';
import { atDepth } from './helpers/fuzz.js';
import { goldenFiles, loadGolden, stepsBody } from './helpers/golden.js';
import { assertClose, call, createSession, makeApp } from './helpers/http.js';

const cases = goldenFiles().map((f) => ({ file: f, c: loadGolden(f) as unknown as ReplayCase & { expect: { spikes: Record<string, number[][]>; weights: Record<string, number[][]>; v: Record<string, number[]> } } }));

/** The case's network with its initial weights as the spec's `w`, as replay() builds it. */
function sessionBody(c: ReplayCase) {
  const network = structuredClone(c.network) as { connections?: Record<string, Record<string, unknown>> };
  for (const [name, w] of Object.entries(c.initial_weights ?? {})) network.connections![name].w = w;
  return { network, seed: c.seed ?? 0 };
}

describe('golden cases over HTTP', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await makeApp();
  });
  after(() => app.close());

  test('the golden directory has its cases', () => {
    assert.ok(cases.length >= 10, `found ${cases.length} cases`);
  });

  for (const { file, c } of cases) {
    // The engine's run of the case, made once for both tests.
    let run: ReturnType<typeof replay> | undefined;
    const reference = () => (run ??= replay(c));

    test(`${file}: one request per step equals the engine alone and the recorded run`, async () => {
      const engine = reference();
      const id = await createSession(app, sessionBody(c));
      const pops = Object.keys(engine.spikes);
      const spikes: Record<string, number[][]> = Object.fromEntries(pops.map((p) => [p, []]));
      let last: { potentials: Record<string, number[]>; weights: Record<string, number[][]> } | null = null;
      // At the quick depth (test/helpers/fuzz.ts) the first 100 steps a request each, the rest in one request.
      const single = atDepth(c.steps.length, Math.min(c.steps.length, 100));
      for (let t = 0; t < single; t++) {
        const s = c.steps[t];
        const body: Record<string, unknown> = {};
        if (s.inputs) body.inputs = s.inputs;
        if (s.reward !== undefined) body.reward = s.reward;
        if (t === c.steps.length - 1) body.return = { potentials: true, weights: true };
        const r = await call(app, 'POST', `/v1/sessions/${id}/step`, body);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        for (const p of pops) spikes[p].push(r.body.spikes[p][0]);
        if (t === c.steps.length - 1) last = r.body;
      }
      if (single < c.steps.length) {
        const r = await call(app, 'POST', `/v1/sessions/${id}/step`, stepsBody(c, single, c.steps.length));
        assert.equal(r.status, 200, JSON.stringify(r.body));
        for (const p of pops) spikes[p].push(...r.body.spikes[p]);
        last = r.body;
      }
      assert.deepEqual(spikes, engine.spikes);
      assert.deepEqual(spikes, c.expect.spikes);
      assert.ok(last);
      for (const [name, w] of Object.entries(engine.weights)) {
        assert.deepEqual(last.weights[name], w, `${name}: weights equal the engine's exactly`);
        assertClose(last.weights[name], c.expect.weights[name], 1e-4, `${file} weights ${name}`);
      }
      for (const [p, v] of Object.entries(engine.v)) {
        assert.deepEqual(last.potentials[p], v);
        assertClose(last.potentials[p], c.expect.v[p], 1e-4, `${file} v ${p}`);
      }
      await call(app, 'DELETE', `/v1/sessions/${id}`);
    });

    test(`${file}: the whole case in one request equals the engine alone`, async () => {
      const engine = reference();
      const id = await createSession(app, sessionBody(c));
      const r = await call(app, 'POST', `/v1/sessions/${id}/step`, stepsBody(c, 0, c.steps.length));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.spikes, engine.spikes);
      assert.deepEqual(r.body.weights, engine.weights);
      assert.deepEqual(r.body.potentials, engine.v);
      await call(app, 'DELETE', `/v1/sessions/${id}`);
    });
  }
});
