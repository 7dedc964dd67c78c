/** `spikeserve replay --backend tfjs`: the CLI starts TensorFlow.js itself, honouring TFJS_BACKEND. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { probeTfjsNode } from './helpers/tfjs-node.js';
import { GOLDEN_DIR, assertPotentialsClose, assertSpikesEqual, assertWeightsClose, loadGolden } from './helpers/golden.js';

const CLI = path.resolve('dist', 'src', 'cli.js');
const CASE = path.join(GOLDEN_DIR, 'seed-stdp.json');

const TFJS_NODE_STATE = probeTfjsNode();

function run(args: string[], env: Record<string, string | undefined> = {}) {
  // From another directory: the wasm binaries must be found from the package, not the cwd.
  return spawnSync(process.execPath, [CLI, ...args], { cwd: tmpdir(), encoding: 'utf8', env: { ...process.env, TFJS_BACKEND: undefined, ...env } });
}

for (const platform of [undefined, 'wasm', 'cpu']) {
  test(`replay --backend tfjs${platform ? ` with TFJS_BACKEND=${platform}` : ''} reproduces the golden case, printing only the JSON`, () => {
    const r = run(['replay', CASE, '--backend', 'tfjs'], { TFJS_BACKEND: platform });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'no tfjs banner or warning');
    const out = JSON.parse(r.stdout);
    const c = loadGolden('seed-stdp.json');
    assertSpikesEqual(out.spikes, c.expect.spikes);
    assertWeightsClose(out.weights, c.expect.weights);
    assertPotentialsClose(out.v, c.expect.v);
  });
}

test('replay --backend=tfjs is accepted too', () => {
  const r = run(['replay', `--backend=tfjs`, path.join(GOLDEN_DIR, 'seed-noop.json')]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).spikes.pre.length, 1000);
});

test('an unknown TFJS_BACKEND is refused with a coded message', () => {
  const r = run(['replay', CASE, '--backend', 'tfjs'], { TFJS_BACKEND: 'gpu' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^spikeserve: BACKEND_UNAVAILABLE: TFJS_BACKEND: "gpu" is not a tfjs platform; use node, wasm, cpu or auto\n$/);
  assert.equal(r.stdout, '');
});

test('TFJS_BACKEND=node where tfjs-node cannot run fails instead of falling back', { skip: TFJS_NODE_STATE === 'works' && '@tensorflow/tfjs-node runs here' }, () => {
  const r = run(['replay', CASE, '--backend', 'tfjs'], { TFJS_BACKEND: 'node' });
  assert.equal(r.status, 1);
  const why = TFJS_NODE_STATE === 'absent' ? 'not installed' : 'The Node.js native addon module \\(tfjs_binding\\.node\\) can not be found';
  assert.match(r.stderr, new RegExp(`BACKEND_UNAVAILABLE: the tfjs platform "node" \\(forced by TFJS_BACKEND\\) did not start: node: ${why}`));
  assert.equal(r.stdout, '');
});

test('the native backend ignores TFJS_BACKEND and never starts tfjs', () => {
  const r = run(['replay', CASE], { TFJS_BACKEND: 'gpu' });
  assert.equal(r.status, 0, r.stderr);
  assertWeightsClose(JSON.parse(r.stdout).weights, loadGolden('seed-stdp.json').expect.weights);
});

test('--help names the tfjs backend and TFJS_BACKEND', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--backend native\|tfjs/);
  assert.match(r.stdout, /TFJS_BACKEND=node\|wasm\|cpu/);
});
