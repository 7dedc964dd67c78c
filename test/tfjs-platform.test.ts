/**
 * Starting TensorFlow.js: what a host sees before, during and after
 * initTfjs. The tests run in order in one process, since tfjs is one engine
 * per process.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { Network, TFJS_PLATFORMS, initTfjs, tfjsInfo } from '../src/engine/index.js';
import { ERROR_CATALOGUE, SpikeserveError } from '../src/errors.js';
import { probeTfjsNode } from './helpers/tfjs-node.js';

const SPEC = {
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 10, rule: { type: 'MSTDP', lr: [0.0003, 0.0002] } } },
};

const require = createRequire(import.meta.url);
// Probed in a child process: importing it here would start it in this one.
const TFJS_NODE_STATE = probeTfjsNode();
const TFJS_NODE = TFJS_NODE_STATE === 'works';
const TFJS_CORE_VERSION = (require('@tensorflow/tfjs-core/package.json') as { version: string }).version;

function isUnavailable(message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof SpikeserveError, `expected a SpikeserveError, got ${e}`);
    assert.equal(e.code, 'BACKEND_UNAVAILABLE');
    assert.equal(e.status, 503);
    assert.match(e.message, message);
    return true;
  };
}

test('BACKEND_UNAVAILABLE is in the error catalogue', () => {
  assert.equal(ERROR_CATALOGUE.BACKEND_UNAVAILABLE.status, 503);
});

test('before initTfjs: not ready, and a network on tfjs is refused with a coded error naming the fix', () => {
  assert.deepEqual(tfjsInfo(), { ready: false, platform: null, tfBackend: null, selection: null, version: null, unavailable: [], error: null });
  assert.throws(() => Network.create(SPEC, { backend: 'tfjs' }), isUnavailable(/backend: "tfjs" is not available: TensorFlow\.js has not been initialised \(the host must call initTfjs\(\) at startup\); use the "native" backend/));
  const snap = Network.create(SPEC).snapshot();
  assert.throws(() => Network.fromSnapshot(snap, { backend: 'tfjs' }), isUnavailable(/not been initialised/));
});

test('an unknown TFJS_BACKEND value is refused before anything starts', async () => {
  await assert.rejects(initTfjs({ prefer: 'gpu' }), isUnavailable(/TFJS_BACKEND: "gpu" is not a tfjs platform; use node, wasm, cpu or auto/));
  assert.equal(tfjsInfo().ready, false);
});

/** Why tfjs-node does not start here: absent, or present without its native addon. */
const NODE_REASON = TFJS_NODE_STATE === 'absent' ? /^not installed$/ : /tfjs_binding\.node/;

test('forcing tfjs-node where it cannot run fails, says why, and does not fall back', { skip: TFJS_NODE && '@tensorflow/tfjs-node runs here' }, async () => {
  await assert.rejects(initTfjs({ prefer: 'node' }), isUnavailable(/the tfjs platform "node" \(forced by TFJS_BACKEND\) did not start: node: /));
  const info = tfjsInfo();
  assert.equal(info.ready, false);
  assert.equal(info.selection, 'forced');
  assert.equal(info.unavailable.length, 1);
  assert.equal(info.unavailable[0].platform, 'node');
  assert.match(info.unavailable[0].reason, NODE_REASON);
  assert.throws(() => Network.create(SPEC, { backend: 'tfjs' }), isUnavailable(/TensorFlow\.js did not start on this host: the tfjs platform "node"/));
});

test('initTfjs chooses tfjs-node when installed, else wasm, and reports it', async () => {
  const info = await initTfjs();
  const expected = TFJS_NODE ? 'node' : 'wasm';
  assert.equal(info.ready, true);
  assert.equal(info.platform, expected);
  assert.equal(info.tfBackend, { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' }[expected]);
  assert.equal(tf.getBackend(), info.tfBackend);
  assert.equal(info.selection, 'auto');
  assert.equal(info.version, TFJS_CORE_VERSION);
  assert.equal(info.error, null);
  if (!TFJS_NODE) {
    assert.equal(info.unavailable.length, 1);
    assert.equal(info.unavailable[0].platform, 'node');
    assert.match(info.unavailable[0].reason, NODE_REASON);
  }
  assert.deepEqual(tfjsInfo(), info);
  assert.deepEqual(TFJS_PLATFORMS, ['node', 'wasm', 'cpu']);
});

test('initTfjs is idempotent, and refuses to switch platform once one runs', async () => {
  const running = tfjsInfo();
  assert.deepEqual(await initTfjs(), running);
  assert.deepEqual(await initTfjs({ prefer: running.platform }), running);
  assert.deepEqual(await initTfjs({ prefer: 'auto' }), running);
  const other = TFJS_PLATFORMS.find((p) => p !== running.platform) as string;
  await assert.rejects(initTfjs({ prefer: other }), isUnavailable(new RegExp(`tfjs already runs on the "${running.platform}" platform; it cannot switch to "${other}"`)));
  assert.deepEqual(tfjsInfo(), running);
});

test('tfjsInfo returns a copy the caller cannot corrupt', () => {
  const info = tfjsInfo();
  info.unavailable.push({ platform: 'cpu', reason: 'x' });
  info.platform = null;
  assert.notDeepEqual(tfjsInfo(), info);
});

test('after initTfjs a network runs on tfjs, and dispose frees its tensors', () => {
  const before = tf.memory().numTensors;
  const net = Network.create(SPEC, { backend: 'tfjs', seed: 4 });
  assert.equal(net.backend, 'tfjs');
  assert.equal(net.kernelName, 'tfjs');
  let fired = 0;
  for (let t = 0; t < 20; t++) {
    net.step({ pre: [100, 0] }, 1);
    fired += net.spikes('pre').length;
  }
  assert.ok(fired > 0, 'the driven input neuron fires');
  assert.ok(tf.memory().numTensors > before);
  net.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('a spec beyond float32 range is refused on tfjs (not silently turned into Infinity), and leaks nothing', () => {
  const before = tf.memory().numTensors;
  const spec = { populations: { a: { n: 2, threshold: 1e39 } } };
  // Every backend takes numbers up to 1e30 (bounds.ts), well within float32.
  for (const backend of ['tfjs', 'native'] as const) {
    assert.throws(() => Network.create(spec, { backend }), (e: SpikeserveError) => {
      assert.equal(e.code, 'SPEC_INVALID');
      assert.match(e.message, /^network\.populations\.a\.threshold: must be a finite number of magnitude at most 1e\+30/);
      assert.deepEqual(e.details, { field: 'network.populations.a.threshold' });
      return true;
    });
  }
  assert.equal(tf.memory().numTensors, before);
});
