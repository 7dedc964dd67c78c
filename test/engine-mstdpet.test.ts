/**
 * MSTDPET (model.md, "MSTDPET"): a reward reaches the spikes of earlier steps
 * through the eligibility trace, deferred rewards and snapshots taken
 * mid-run continue exactly, and reset clears the trace.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Network } from '../src/engine/index.js';
import { SpikeserveError } from '../src/errors.js';

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
