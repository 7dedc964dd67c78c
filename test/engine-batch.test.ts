/**
 * Batches (model.md, "Batches"): B copies sharing their weights, each with
 * its own state, inputs and reward, their rules' terms reduced with sum or
 * mean. The native kernel agrees with a dense float64 transcription, tfjs
 * with native; snapshots, deferred rewards and resets work copy by copy;
 * inputs and rewards of the wrong shape are refused naming the field.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { initTfjs, Network, type BackendName } from '../src/engine/index.js';
import { SpikeserveError } from '../src/errors.js';
import { fuzzRuns, fuzzSeed } from './helpers/fuzz.js';
import { ReferenceBatch } from './helpers/reference-model.js';

const SEED = fuzzSeed(20261206);

before(async () => {
  await initTfjs({ prefer: 'cpu' });
});

const ruleArb = fc.oneof(
  fc.record({ type: fc.constant('NoOp'), weight_decay: fc.constantFrom(0, 0.01) }),
  fc.record({
    type: fc.constant('STDP'),
    lr: fc.tuple(fc.double({ min: 0, max: 0.05, noNaN: true }), fc.double({ min: 0, max: 0.05, noNaN: true })),
    weight_decay: fc.constantFrom(0, 0.001),
    boundary: fc.constantFrom('hard', 'soft'),
    reduction: fc.constantFrom('sum', 'mean'),
  }),
  fc.record({
    type: fc.constantFrom('MSTDP', 'MSTDPET'),
    lr: fc.double({ min: 0, max: 0.2, noNaN: true }),
    weight_decay: fc.constantFrom(0, 0.001),
    boundary: fc.constantFrom('hard', 'soft'),
    reduction: fc.constantFrom('sum', 'mean'),
  }),
);

/** A batch network of 1-3 populations (sizes up to 40: the sparse step too), 0-3 connections, and per-copy inputs and rewards. */
const caseArb = fc
  .record({
    copies: fc.integer({ min: 2, max: 4 }),
    dt: fc.constantFrom(0.25, 0.5, 1),
    sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 32, max: 40 })), { minLength: 1, maxLength: 3 }),
    conns: fc.array(fc.record({ pre: fc.nat(), post: fc.nat(), rule: ruleArb, bounds: fc.constantFrom([0, 1], [0, 3], [-1, 2], [0.2, 1.5]) }), { maxLength: 3 }),
    seed: fc.nat({ max: 1000 }),
    steps: fc.integer({ min: 1, max: 40 }),
    inputSeed: fc.nat(),
  })
  .map(({ copies, dt, sizes, conns, seed, steps, inputSeed }) => {
    const names = sizes.map((_, i) => `p${i}`);
    const spec = {
      dt,
      batch_size: copies,
      populations: Object.fromEntries(sizes.map((n, i) => [names[i], { n, refrac_length: i % 2 === 0 ? 0 : 1 }])),
      connections: Object.fromEntries(
        conns.map((c, k) => [`c${k}`, { pre: names[c.pre % names.length], post: names[c.post % names.length], w_min: c.bounds[0], w_max: c.bounds[1], rule: c.rule }]),
      ),
    };
    let x = inputSeed >>> 0;
    const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const schedule = Array.from({ length: steps }, () => ({
      inputs: Object.fromEntries(sizes.map((n, i) => [names[i], Array.from({ length: copies }, () => Array.from({ length: n }, () => (rnd() < (n >= 32 ? 0.1 : 0.5) ? rnd() * 12 : 0)))])),
      rewards: Array.from({ length: copies }, () => (rnd() < 0.5 ? (rnd() - 0.5) * 4 : 0)),
      defer: rnd() < 0.3,
    }));
    return { spec, seed, schedule };
  });

function run(net: Network, s: { inputs: Record<string, number[][]>; rewards: number[]; defer: boolean }) {
  if (s.defer) {
    net.step(s.inputs, undefined, { deferReward: true });
    net.reward(s.rewards);
  } else {
    net.step(s.inputs, s.rewards);
  }
}

const copiesOf = (net: Network) => Array.from({ length: net.copies }, (_, b) => b);

describe('batch: the native kernel', () => {
  test('agrees with the dense reference transcription, copy by copy', () => {
    fc.assert(
      fc.property(caseArb, ({ spec, seed, schedule }) => {
        const net = Network.create(spec, { seed });
        const ref = new ReferenceBatch(net.spec, Object.fromEntries(net.connectionNames.map((c) => [c, net.weights(c)])));
        for (const s of schedule) {
          run(net, s);
          ref.step(s.inputs, s.rewards);
          for (const p of net.populationNames) for (const b of copiesOf(net)) assert.deepEqual(net.spikes(p, b), ref.copies[b].spikes(p), `${p}, copy ${b}`);
        }
        for (const [c, rw] of ref.weights) {
          net.weights(c).forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - rw[i][j]) <= 1e-9, `${c}[${i}][${j}]: ${v} vs ${rw[i][j]}`)));
        }
        for (const p of net.populationNames) {
          for (const b of copiesOf(net)) ref.copies[b].pops.get(p)!.v.forEach((x, i) => assert.ok(Math.abs(net.potentials(p, b)[i] - x) <= 1e-9, `v.${p}[${b}][${i}]`));
        }
      }),
      { seed: SEED, numRuns: fuzzRuns(150) },
    );
  });

  test('snapshots taken mid-run, an update pending, restore and continue exactly, on native and tfjs', () => {
    fc.assert(
      fc.property(caseArb, fc.constantFrom<BackendName>('native', 'tfjs'), ({ spec, seed, schedule }, backend) => {
        const a = Network.create(spec, { seed, backend });
        const half = Math.floor(schedule.length / 2);
        schedule.slice(0, half).forEach((s) => run(a, s));
        a.step(schedule[0].inputs, undefined, { deferReward: true });
        const b = Network.fromSnapshot(JSON.parse(JSON.stringify(a.snapshot())), { backend });
        assert.equal(b.pending, true);
        for (const s of schedule.slice(half)) {
          run(a, s);
          run(b, s);
        }
        assert.deepEqual(b.snapshot(), a.snapshot());
        a.dispose();
        b.dispose();
      }),
      { seed: SEED + 1, numRuns: fuzzRuns(40) },
    );
  });

  test('the tfjs backend matches native copy by copy (float32 against float64)', () => {
    fc.assert(
      fc.property(caseArb, ({ spec, seed, schedule }) => {
        const native = Network.create(spec, { seed });
        const tfjs = Network.create(spec, { seed, backend: 'tfjs' });
        try {
          for (const s of schedule.slice(0, 12)) {
            run(native, s);
            run(tfjs, s);
          }
          for (const c of native.connectionNames) {
            const w = native.weightsFlat(c);
            const t = tfjs.weightsFlat(c);
            w.forEach((x, k) => assert.ok(Math.abs(x - t[k]) <= 1e-3, `${c}[${k}]: ${x} vs ${t[k]}`));
          }
          for (const p of native.populationNames) {
            for (const b of copiesOf(native)) {
              const v = native.potentials(p, b);
              const t = tfjs.potentials(p, b);
              v.forEach((x, i) => assert.ok(Math.abs(x - t[i]) <= 1e-2, `v.${p}[${b}][${i}]: ${x} vs ${t[i]}`));
            }
          }
        } finally {
          tfjs.dispose();
        }
      }),
      { seed: SEED + 2, numRuns: fuzzRuns(25) },
    );
  });
});

/** 2 -> 1 with an MSTDPET and an STDP connection; the output fires for input 100 on input 0. */
function small(copies: number, reduction: 'sum' | 'mean' = 'sum', backend: BackendName = 'native') {
  return Network.create(
    {
      batch_size: copies,
      populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
      connections: {
        et: { pre: 'pre', post: 'post', w_max: 10, w: [[5], [5]], rule: { type: 'MSTDPET', lr: 0.5, reduction } },
        st: { pre: 'pre', post: 'post', w_max: 10, w: [[1], [1]], rule: { type: 'STDP', lr: [0.01, 0.02], reduction, boundary: 'soft' } },
      },
    },
    { backend },
  );
}

describe('batch: copies', () => {
  test('copies given the same inputs and rewards under reduction mean learn as one network does', () => {
    for (const backend of ['native', 'tfjs'] as const) {
      const one = small(1, 'mean', backend);
      const four = small(4, 'mean', backend);
      for (let t = 0; t < 200; t++) {
        const x = { pre: t % 9 < 4 ? [100, 0] : [0, 100] };
        const r = t % 25 === 24 ? 1 : 0;
        one.step(x, r);
        four.step(x, r);
      }
      for (const c of ['et', 'st']) {
        const w1 = one.weightsFlat(c);
        four.weightsFlat(c).forEach((x, k) => assert.ok(Math.abs(x - w1[k]) <= 1e-6, `${backend} ${c}[${k}]: ${x} vs ${w1[k]}`));
      }
      for (let b = 0; b < 4; b++) assert.deepEqual(four.potentials('post', b), one.potentials('post'));
      one.dispose();
      four.dispose();
    }
  });

  test('each copy keeps its own state: inputs and rewards go to their copy', () => {
    const net = small(3);
    for (let t = 0; t < 30; t++) net.step({ pre: [[100, 0], [0, 0], [0, 100]] }, [1, 0, -1]);
    assert.ok(net.spikes('pre', 0).length + net.spikes('pre', 2).length > 0 || net.traces('pre', 0)[0] > 0);
    assert.deepEqual(Array.from(net.traces('pre', 1)), [0, 0], 'copy 1 had no input');
    assert.ok(net.traces('pre', 0)[0] > 0 && net.traces('pre', 0)[1] === 0);
    assert.ok(net.traces('pre', 2)[1] > 0 && net.traces('pre', 2)[0] === 0);
    assert.deepEqual(net.eligibilityTrace('et', 1), [[0], [0]]);
  });

  test('a vector for a population is every copy\'s input; a number every neuron\'s', () => {
    const a = small(2);
    const b = small(2);
    const c = small(2);
    for (let t = 0; t < 20; t++) {
      a.step({ pre: [100, 0] }, 0.5);
      b.step({ pre: [[100, 0], [100, 0]] }, [0.5, 0.5]);
      c.run({ steps: 1, inputs: { pre: [[100, 0], [100, 0]] }, reward: 0.5 });
    }
    assert.deepEqual(b.snapshot(), a.snapshot());
    assert.deepEqual(c.snapshot(), a.snapshot());
    const d = small(2);
    d.run({ steps: 20, inputs: { pre: Array.from({ length: 20 }, () => [[100, 0], [100, 0]]) }, reward: Array.from({ length: 20 }, () => [0.5, 0.5]) });
    assert.deepEqual(d.snapshot(), a.snapshot());
  });

  test('reset puts every copy back to its start and keeps the shared weights', () => {
    const net = small(3);
    for (let t = 0; t < 30; t++) net.step({ pre: [[100, 0], [0, 100], [100, 100]] }, [1, 1, 1]);
    const w = net.weights('et');
    net.reset();
    const fresh = small(3);
    for (let b = 0; b < 3; b++) {
      assert.deepEqual(net.potentials('post', b), fresh.potentials('post', b));
      assert.deepEqual(net.eligibilityTrace('et', b), fresh.eligibilityTrace('et', b));
    }
    assert.deepEqual(net.weights('et'), w);
  });

  test('inputs, rewards and copies of the wrong shape are INPUT_INVALID naming the field; nothing changes', () => {
    const net = small(2);
    const before = JSON.stringify(net.snapshot());
    const cases: [() => void, RegExp][] = [
      [() => net.step({ pre: [[100, 0]] }), /^inputs\.pre: one vector per copy: expected 2 vectors of 2, got 1/],
      [() => net.step({ pre: [[100, 0], [1]] }), /^inputs\.pre\[1\]: must have 2 entries \(one per neuron\), got 1/],
      [() => net.step({ pre: [1, 2, 3] }), /^inputs\.pre: must have 2 entries \(one per neuron, the same for every copy\), or be 2 such vectors/],
      [() => net.step({ pre: [[1, 2], [3, Infinity]] }), /^inputs\.pre\[1\]\[1\]: must be a finite number/],
      [() => net.step({}, [1, 2, 3]), /^reward: must be a number \(every copy\) or 2 numbers \(one per copy\), got 3/],
      [() => net.step({}, [1, NaN]), /^reward\[1\]: must be a finite number/],
      [() => net.run({ steps: 2, reward: [[1, 2]] }), /^reward: one reward \(a number or 2 numbers\) per rewarded step: expected 2, got 1/],
      [() => net.run({ steps: 2, inputs: { pre: [[[1, 2], [3, 4]]] } }), /^inputs\.pre: one list of 2 vectors per step: expected 2, got 1/],
      [() => net.spikes('pre', 2), /^copy: must be a copy of the batch, an integer from 0 to 1/],
    ];
    for (const [call, message] of cases) {
      assert.throws(call, (e: SpikeserveError) => e.code === 'INPUT_INVALID' && message.test(e.message), String(message));
    }
    assert.equal(JSON.stringify(net.snapshot()), before);
  });

  test('batch_size is bounded, and every copy counts in the neuron and synapse limits', () => {
    const spec = (batch_size: number) => ({ batch_size, populations: { a: { n: 10 }, b: { n: 10 } }, connections: { ab: { pre: 'a', post: 'b' } } });
    const limits = { maxNeurons: 100, maxSynapses: 1000, maxBatchSize: 8 };
    assert.equal(Network.create(spec(5), { limits }).copies, 5);
    const code = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return e as SpikeserveError;
      }
      assert.fail('no error');
    };
    const big = code(() => Network.create(spec(9), { limits }));
    assert.equal(big.code, 'LIMIT_EXCEEDED');
    assert.match(big.message, /^network\.batch_size: 9 copies exceeds the limit of 8/);
    const neurons = code(() => Network.create(spec(6), { limits }));
    assert.equal(neurons.code, 'LIMIT_EXCEEDED');
    assert.match(neurons.message, /^network\.populations: 120 neurons in all \(20 per copy, 6 copies\) exceeds the limit of 100/);
    const synapses = code(() => Network.create(spec(5), { limits: { ...limits, maxSynapses: 400 } }));
    assert.match(synapses.message, /^network\.connections: 500 synapses in all \(100 per copy, 5 copies\) exceeds the limit of 400/);
    assert.equal(code(() => Network.create(spec(0))).code, 'SPEC_INVALID');
  });

  test('a version 1 snapshot (before batches) still restores, as one copy', () => {
    const net = small(1);
    for (let t = 0; t < 10; t++) net.step({ pre: [100, 0] }, 1);
    const snap = JSON.parse(JSON.stringify(net.snapshot()));
    snap.version = 1;
    delete snap.network.batch_size;
    const old = Network.fromSnapshot(snap);
    assert.equal(old.copies, 1);
    for (let t = 0; t < 10; t++) {
      old.step({ pre: [0, 100] }, -1);
      net.step({ pre: [0, 100] }, -1);
    }
    assert.deepEqual(old.snapshot(), net.snapshot());
    const batched = JSON.parse(JSON.stringify(small(2).snapshot()));
    batched.version = 1;
    assert.throws(() => Network.fromSnapshot(batched), /snapshot\.network\.batch_size: a version 1 snapshot holds one copy/);
  });
});
