/**
 * MSTDPET (model.md, "MSTDPET"): a reward reaches the spikes of earlier steps
 * through the eligibility trace, deferred rewards and snapshots taken
 * mid-run continue exactly, and reset clears the trace.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Network } from '../src/engine/index.js';
import { SpikeserveError } from '../src/errors.js';
import { atDepth } from './helpers/fuzz.js';
import { ReferenceNetwork } from './helpers/reference-model.js';

/** The seed's 2 -> 1 network with an MSTDPET or MSTDP rule. */
function seedNet(type: 'MSTDP' | 'MSTDPET', extra: Record<string, unknown> = {}, backend: 'native' | 'tfjs' = 'native') {
  return Network.create(
    {
      dt: 0.1,
      populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
      connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, w: [[5], [5]], rule: { type, lr: [0.5, 0], ...extra } } },
    },
    { backend },
  );
}

/** 48 steps of input [100, 0], two quiet ones, and a reward only at the last. */
function episode(net: Network, reward: number) {
  for (let t = 0; t < 48; t++) net.step({ pre: [100, 0] });
  net.step({ pre: [0, 0] });
  net.step({ pre: [0, 0] }, reward);
}

describe('MSTDPET', () => {
  test('a reward given only at the end of an episode changes the weights the episode\'s spikes earned; under MSTDP it changes nothing', () => {
    const et = seedNet('MSTDPET');
    episode(et, 1);
    const w = et.weights('pre_post');
    assert.ok(w[0][0] > 5, `the input that fired is potentiated: ${w[0][0]}`);
    assert.equal(w[1][0], 5, 'the silent input is unchanged');
    const m = seedNet('MSTDP');
    episode(m, 1);
    // The step before the reward fired nothing, so the eligibility MSTDP's reward meets is 0.
    assert.deepEqual(m.weights('pre_post'), [[5], [5]]);
  });

  test('the trace decays with tc_e_trace: a later reward is worth less', () => {
    const gain = (wait: number) => {
      const net = seedNet('MSTDPET', { tc_e_trace: 5 });
      for (let t = 0; t < 20; t++) net.step({ pre: [100, 0] });
      for (let t = 0; t < wait; t++) net.step({ pre: [0, 0] });
      net.step({ pre: [0, 0] }, 1);
      return net.weights('pre_post')[0][0] - 5;
    };
    assert.ok(gain(0) > gain(30) && gain(30) > gain(200) && gain(200) > 0, `${gain(0)} ${gain(30)} ${gain(200)}`);
  });

  test('deferring every reward gives the same trajectory as rewarding with the step', () => {
    const a = seedNet('MSTDPET', { boundary: 'soft', weight_decay: 0.001 });
    const b = seedNet('MSTDPET', { boundary: 'soft', weight_decay: 0.001 });
    for (let t = 0; t < 300; t++) {
      const inputs = { pre: t % 7 < 3 ? [100, 0] : [0, 100] };
      const r = t % 25 === 24 ? (t % 50 === 49 ? -1 : 1) : 0;
      a.step(inputs, r);
      b.step(inputs, undefined, { deferReward: true });
      if (t % 3 !== 0) b.reward(r); // otherwise the next step completes it with 0, as r is 0 or given
      else if (r !== 0) b.reward(r);
    }
    assert.deepEqual(b.snapshot(), a.snapshot());
  });

  for (const backend of ['native', 'tfjs'] as const) {
    test(`on ${backend}: a snapshot taken mid-run, with an update pending, restores and continues exactly`, async () => {
      if (backend === 'tfjs') await (await import('../src/engine/index.js')).initTfjs({ prefer: 'cpu' });
      const a = seedNet('MSTDPET', { tc_e_trace: 3 }, backend);
      for (let t = 0; t < 40; t++) a.step({ pre: [100, t % 2 ? 100 : 0] }, t % 10 === 9 ? 0.5 : 0);
      a.step({ pre: [100, 0] }, undefined, { deferReward: true });
      const b = Network.fromSnapshot(JSON.parse(JSON.stringify(a.snapshot())), { backend });
      assert.equal(b.pending, true);
      a.reward(2);
      b.reward(2);
      for (let t = 0; t < 60; t++) {
        a.step({ pre: [t % 3 ? 100 : 0, 100] }, t % 10 === 9 ? -1 : 0);
        b.step({ pre: [t % 3 ? 100 : 0, 100] }, t % 10 === 9 ? -1 : 0);
      }
      assert.deepEqual(b.snapshot(), a.snapshot());
      assert.deepEqual(b.eligibilityTrace('pre_post'), a.eligibilityTrace('pre_post'));
      a.dispose();
      b.dispose();
    });
  }

  // Long enough for the post spikes' pending columns to be taken into the
  // trace many times (p_plus decays below 2^-20 in about 140 steps at dt 1,
  // tc_plus 10) and for the trace's scale to be folded into its values
  // (below 1e-100 after about 1150 steps at tc_e_trace 5), on a connection
  // with the WebAssembly kernels (45 x 31) and one with the JavaScript
  // loops (7 x 5), with a snapshot restored midway.
  for (const [nPre, nPost] of [[45, 31], [7, 5]]) {
    // Rewards every step (the columns added at once), every 20th (kept
    // pending in between), and in bursts of four every 40 steps (pending, then
    // taken in when rewards come often again).
    const schedules: [string, (t: number) => boolean][] = [
      ['every step', () => true],
      ['every 20th step', (t) => t % 20 === 19],
      ['in bursts', (t) => t % 40 >= 36],
    ];
    for (const [when, rewarded] of schedules) {
      test(`${nPre} -> ${nPost}, rewarded ${when}: spikes, weights and trace follow the dense reference over 1300 steps`, () => {
        const spec = {
          dt: 1,
          populations: { pre: { n: nPre, refrac_length: 0 }, post: { n: nPost, refrac_length: 2 } },
          connections: { c: { pre: 'pre', post: 'post', w_min: 0.3, w_max: 2.5, rule: { type: 'MSTDPET', lr: [2, 0], tc_plus: 10, tc_minus: 15, tc_e_trace: 5 } } },
        };
        let net = Network.create(spec, { seed: 3 });
        const ref = new ReferenceNetwork(net.spec, { c: net.weights('c') });
        let low = false;
        let high = false;
        let x = 12345;
        const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
        for (let t = 0; t < 1300; t++) {
          const inputs = { pre: Array.from({ length: nPre }, () => (rnd() < 0.15 ? 40 + 40 * rnd() : 0)) };
          const reward = rewarded(t) ? 4 * (rnd() - 0.4) : 0;
          net.step(inputs, reward);
          ref.step(inputs, reward);
          assert.deepEqual(net.spikes('pre'), ref.spikes('pre'));
          assert.deepEqual(net.spikes('post'), ref.spikes('post'), `post spikes at step ${t}`);
          if (t === 650) net = Network.fromSnapshot(JSON.parse(JSON.stringify(net.snapshot())));
          low ||= ref.conns.get('c')!.w.some((row) => row.some((v) => v === 0.3));
          high ||= ref.conns.get('c')!.w.some((row) => row.some((v) => v === 2.5));
        }
        const { w, et } = ref.conns.get('c')!;
        net.weights('c').forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - w[i][j]) <= 1e-9, `w[${i}][${j}]: ${v} vs ${w[i][j]}`)));
        (net.eligibilityTrace('c') as number[][]).forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - et[i][j]) <= 1e-9, `et[${i}][${j}]: ${v} vs ${et[i][j]}`)));
        assert.ok(low && high, `weights met both bounds: w_min ${low}, w_max ${high}`);
      });
    }
  }

  /** The 45 -> 31 network above (WebAssembly kernels) or 7 -> 5 (JavaScript loops), hard bounds without decay: rewards applied row by row. */
  const lazySpec = (nPre: number, nPost: number) => ({
    dt: 1,
    populations: { pre: { n: nPre, refrac_length: 0 }, post: { n: nPost, refrac_length: 2 } },
    connections: { c: { pre: 'pre', post: 'post', w_min: 0.3, w_max: 2.5, rule: { type: 'MSTDPET', lr: [2, 0], tc_plus: 10, tc_minus: 15, tc_e_trace: 5 } } },
  });
  /** Inputs and rewards of both signs, from a seeded generator, rewards on the steps `rewarded` picks. */
  function driver(seed: number, nPre: number, rewarded: (t: number) => boolean) {
    let x = seed;
    const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    return (t: number) => {
      const inputs = { pre: Array.from({ length: nPre }, () => (rnd() < 0.15 ? 40 + 40 * rnd() : 0)) };
      const reward = rewarded(t) ? 4 * (rnd() - 0.4) : 0;
      return { inputs, reward };
    };
  }

  for (const [nPre, nPost] of [[45, 31], [7, 5]]) {
    test(`${nPre} -> ${nPost}: weights read mid-run, at any step, change nothing: the run goes on with the same bits`, () => {
      const read = Network.create(lazySpec(nPre, nPost), { seed: 5 });
      const quiet = Network.create(lazySpec(nPre, nPost), { seed: 5 });
      const next = driver(99, nPre, (t) => t % 3 === 0);
      for (let t = 0; t < 400; t++) {
        const { inputs, reward } = next(t);
        read.step(inputs, reward);
        quiet.step(inputs, reward);
        if (t % 5 === 2) read.weightsFlat('c');
      }
      assert.deepEqual(read.snapshot(), quiet.snapshot());
    });

    test(`${nPre} -> ${nPost}: snapshots restored mid-run, a reward pending or not, continue with the same bits as the network they came from`, () => {
      let a = Network.create(lazySpec(nPre, nPost), { seed: 6 });
      const next = driver(7, nPre, (t) => t % 4 !== 1);
      for (let t = 0; t < 500; t++) {
        const { inputs, reward } = next(t);
        if (t % 97 === 50) {
          // Deferred: the snapshot holds the pending update.
          a.step(inputs, undefined, { deferReward: true });
          const b = Network.fromSnapshot(JSON.parse(JSON.stringify(a.snapshot())));
          a.reward(reward);
          b.reward(reward);
          assert.deepEqual(b.snapshot(), a.snapshot(), `after the reward at step ${t}`);
          a = b;
          continue;
        }
        a.step(inputs, reward);
        if (t % 61 === 30) {
          const b = Network.fromSnapshot(JSON.parse(JSON.stringify(a.snapshot())));
          const { inputs: i2, reward: r2 } = next(t + 1000);
          a.step(i2, r2);
          b.step(i2, r2);
          assert.deepEqual(b.snapshot(), a.snapshot(), `after a step from the snapshot of step ${t}`);
          a = b;
        }
      }
    });

    test(`${nPre} -> ${nPost}: deferring every reward gives the same bits as rewarding with the step`, () => {
      const a = Network.create(lazySpec(nPre, nPost), { seed: 8 });
      const b = Network.create(lazySpec(nPre, nPost), { seed: 8 });
      const next = driver(31, nPre, (t) => t % 2 === 0);
      for (let t = 0; t < 400; t++) {
        const { inputs, reward } = next(t);
        a.step(inputs, reward);
        b.step(inputs, undefined, { deferReward: true });
        if (t % 3 !== 0) b.reward(reward);
        else if (reward !== 0) b.reward(reward);
      }
      if (b.pending) b.reward(0);
      assert.deepEqual(b.snapshot(), a.snapshot());
    });

    test(`${nPre} -> ${nPost}: reset mid-run goes on as the dense reference started from the weights it had`, () => {
      const a = Network.create(lazySpec(nPre, nPost), { seed: 9 });
      const next = driver(41, nPre, () => true);
      for (let t = 0; t < 300; t++) {
        const { inputs, reward } = next(t);
        a.step(inputs, reward);
      }
      a.reset();
      assert.ok((a.eligibilityTrace('c') as number[][]).every((row) => row.every((v) => v === 0)));
      const ref = new ReferenceNetwork(a.spec, { c: a.weights('c') });
      for (let t = 0; t < 300; t++) {
        const { inputs, reward } = next(t + 300);
        a.step(inputs, reward);
        ref.step(inputs, reward);
        assert.deepEqual(a.spikes('post'), ref.spikes('post'), `post spikes at step ${t} after the reset`);
      }
      const { w } = ref.conns.get('c')!;
      a.weights('c').forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - w[i][j]) <= 1e-9, `w[${i}][${j}]: ${v} vs ${w[i][j]}`)));
    });
  }

  test('200 -> 200 at 1% input, rewards of both signs every step: the dense reference, bounds met both ways', () => {
    // The benchmark's kind of network, smaller: the history's ring of 100 rewarded steps wrapping, rows brought up to date
    // as their last update leaves it, rows of pre neurons that never fired left as they are, rows replayed at both bounds,
    // delivery of rows whose rewards are pending, on the WebAssembly kernels.
    const n = 200;
    const spec = {
      dt: 0.1,
      populations: { pre: { n, refrac_length: 0 }, post: { n, refrac_length: 0 } },
      connections: { c: { pre: 'pre', post: 'post', w_min: 0, w_max: 0.9, rule: { type: 'MSTDPET', lr: [0.5, 0] } } },
    };
    const net = Network.create(spec, { seed: 11 });
    const ref = new ReferenceNetwork(net.spec, { c: net.weights('c') });
    let x = 4242;
    const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    // At the quick depth 250 steps: the ring of 100 slots goes round two and a half times.
    for (let t = 0, steps = atDepth(600, 250); t < steps; t++) {
      const pre = new Array<number>(n).fill(0);
      for (let k = 0; k < 2; k++) pre[Math.floor(rnd() * n)] = 100;
      const reward = rnd() < 0.5 ? 1 : -1;
      net.step({ pre }, reward);
      ref.step({ pre }, reward);
      assert.deepEqual(net.spikes('post'), ref.spikes('post'), `post spikes at step ${t}`);
    }
    const { w } = ref.conns.get('c')!;
    let low = 0;
    let high = 0;
    net.weights('c').forEach((row, i) =>
      row.forEach((v, j) => {
        assert.ok(Math.abs(v - w[i][j]) <= 1e-9, `w[${i}][${j}]: ${v} vs ${w[i][j]}`);
        if (w[i][j] === 0) low++;
        if (w[i][j] === 0.9) high++;
      }),
    );
    assert.ok(low > 0 && high > 0, `weights at w_min: ${low}, at w_max: ${high}`);
  });

  test('reading the eligibility trace mid-run changes nothing: the run goes on with the same bits', () => {
    const spec = {
      dt: 1,
      populations: { pre: { n: 45, refrac_length: 0 }, post: { n: 31, refrac_length: 2 } },
      connections: { c: { pre: 'pre', post: 'post', w_min: 0.3, w_max: 2.5, rule: { type: 'MSTDPET', lr: [2, 0], tc_plus: 10, tc_minus: 15, tc_e_trace: 5 } } },
    };
    const read = Network.create(spec, { seed: 4 });
    const quiet = Network.create(spec, { seed: 4 });
    let x = 777;
    const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let t = 0; t < 300; t++) {
      const inputs = { pre: Array.from({ length: 45 }, () => (rnd() < 0.15 ? 40 + 40 * rnd() : 0)) };
      const reward = t % 20 === 19 ? 4 * (rnd() - 0.4) : 0;
      read.step(inputs, reward);
      quiet.step(inputs, reward);
      if (t % 7 === 3) read.eligibilityTrace('c');
    }
    assert.deepEqual(read.weightsFlat('c'), quiet.weightsFlat('c'));
    assert.deepEqual(read.eligibilityTrace('c'), quiet.eligibilityTrace('c'));
  });

  test('reset puts the eligibility trace back to 0 and keeps the weights', () => {
    const net = seedNet('MSTDPET');
    for (let t = 0; t < 30; t++) net.step({ pre: [100, 0] });
    assert.notDeepEqual(net.eligibilityTrace('pre_post'), [[0], [0]]);
    const w = net.weights('pre_post');
    net.reset();
    assert.deepEqual(net.eligibilityTrace('pre_post'), [[0], [0]]);
    assert.deepEqual(net.weights('pre_post'), w);
    net.step({ pre: [0, 0] }, 1);
    assert.deepEqual(net.weights('pre_post'), w, 'a reward after reset finds no trace');
  });

  test('the eligibility trace is null for other rules; tc_e_trace is refused on them, and below 1e-30', () => {
    assert.equal(seedNet('MSTDP').eligibilityTrace('pre_post'), null);
    assert.throws(() => seedNet('MSTDP', { tc_e_trace: 5 }), (e: SpikeserveError) => e.code === 'SPEC_INVALID' && /rule\.tc_e_trace: only MSTDPET has this parameter, not MSTDP/.test(e.message));
    assert.throws(() => seedNet('MSTDPET', { tc_e_trace: 1e-31 }), (e: SpikeserveError) => e.code === 'SPEC_INVALID' && /rule\.tc_e_trace: must be at least 1e-30/.test(e.message));
    assert.throws(() => seedNet('MSTDPET', { tc_e_trace: 0 }), (e: SpikeserveError) => e.code === 'SPEC_INVALID' && /rule\.tc_e_trace/.test(e.message));
    assert.equal(seedNet('MSTDPET').spec.connections.pre_post.rule.tc_e_trace, 25, 'BindsNET\'s default');
  });
});
