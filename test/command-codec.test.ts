import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeCommand, encodeReset, encodeReward, encodeStep, encodeWeights } from '../src/api/command-codec.js';

describe('logged commands', () => {
  test('a JSON step is logged as JSON text, without what its reply asked for, and reads back the same', () => {
    const payload = encodeStep({ steps: 3, inputs: { pre: [100, 0] }, reward: 0.5, deferReward: true, return: { spikes: 'counts' } });
    assert.equal(typeof payload, 'string');
    const c = decodeCommand({ kind: 'step', payload });
    assert.deepEqual(c, { kind: 'step', body: { steps: 3, inputs: { pre: [100, 0] }, reward: 0.5, deferReward: true } });
  });

  test('the typed arrays of a binary request are logged as plain JSON arrays, per-step ones included', () => {
    const payload = encodeStep({
      steps: 2,
      inputs: { pre: new Float64Array([1.5, 2]) as unknown as number[], post: [new Float64Array([3]), new Float64Array([4])] as unknown as number[][] },
      reward: new Float64Array([0.25, -1]) as unknown as number[],
    });
    assert.equal(typeof payload, 'string');
    const c = decodeCommand({ kind: 'step', payload });
    assert.deepEqual(c, { kind: 'step', body: { steps: 2, inputs: { pre: [1.5, 2], post: [[3], [4]] }, reward: [0.25, -1] } });
  });

  test('a -0 in a binary request, which JSON would turn into 0, is logged in the blob format and reads back as -0', () => {
    const payload = encodeStep({ steps: 1, inputs: { pre: new Float64Array([-0, 1]) as unknown as number[] } });
    assert.ok(Buffer.isBuffer(payload));
    const c = decodeCommand({ kind: 'step', payload });
    assert.ok(c.kind === 'step');
    const pre = c.body.inputs?.pre as number[];
    assert.ok(Object.is(pre[0], -0));
    assert.equal(pre[1], 1);
  });

  test('reward, reset and weights read back as they were given, a -0 weight exactly', () => {
    assert.deepEqual(decodeCommand({ kind: 'reward', payload: encodeReward(-0.75) }), { kind: 'reward', reward: -0.75 });
    assert.deepEqual(decodeCommand({ kind: 'reset', payload: encodeReset(true) }), { kind: 'reset', weights: true });
    assert.deepEqual(decodeCommand({ kind: 'reset', payload: encodeReset(false) }), { kind: 'reset', weights: false });
    const w = decodeCommand({ kind: 'weights', payload: encodeWeights('pp', [[1, -0], [0.5, 2]]) });
    assert.ok(w.kind === 'weights');
    const { connection } = w;
    const weights = w.weights as number[][];
    assert.equal(connection, 'pp');
    assert.deepEqual(weights, [[1, -0], [0.5, 2]]);
    assert.ok(Object.is(weights[0][1], -0));
  });
});
