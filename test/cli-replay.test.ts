/** `spikeserve replay`: what a user runs on a recorded session. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GOLDEN_DIR, assertPotentialsClose, assertSpikesEqual, assertWeightsClose, loadGolden } from './helpers/golden.js';

const CLI = path.resolve('dist', 'src', 'cli.js');

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8' });
}

test('replay prints spikes, weights and v of the run, shaped like a golden expect', () => {
  const file = path.join(GOLDEN_DIR, 'seed-stdp.json');
  const r = run(['replay', file]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(out).sort(), ['spikes', 'v', 'weights']);
  const c = loadGolden('seed-stdp.json');
  assertSpikesEqual(out.spikes, c.expect.spikes);
  assertWeightsClose(out.weights, c.expect.weights);
  assertPotentialsClose(out.v, c.expect.v);
});

test('replay reads "-" as standard input', () => {
  const text = readFileSync(path.join(GOLDEN_DIR, 'seed-noop.json'), 'utf8');
  const r = run(['replay', '-'], text);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).weights, loadGolden('seed-noop.json').expect.weights);
});

test('npx spikeserve replay works from the project root', () => {
  const r = spawnSync('npx', ['--no-install', 'spikeserve', 'replay', path.join(GOLDEN_DIR, 'seed-noop.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).spikes.pre.length === 1000);
});

const invalid: [string, string | undefined, string[], RegExp, number][] = [
  ['not JSON', 'nope', ['replay', '-'], /standard input is not valid JSON/, 2],
  ['no steps', '{"network": {"populations": {"a": {"n": 1}}}}', ['replay', '-'], /REPLAY_CASE_INVALID: case\.steps: expected required property/, 1],
  ['bad network', '{"network": {"populations": {}}, "steps": []}', ['replay', '-'], /SPEC_INVALID: network\.populations: /, 1],
  ['bad input at a step', '{"network": {"populations": {"a": {"n": 1}}}, "steps": [{}, {"inputs": {"a": [1, 2]}}]}', ['replay', '-'], /case\.steps\[1\]\.inputs\.a: must have 1 entries/, 1],
  ['initial weights for a missing connection', '{"network": {"populations": {"a": {"n": 1}}}, "initial_weights": {"x": [[1]]}, "steps": []}', ['replay', '-'], /case\.initial_weights\.x: no such connection/, 1],
  ['missing file', undefined, ['replay', '/nonexistent/case.json'], /cannot read \/nonexistent\/case\.json: ENOENT/, 2],
  ['no file', undefined, ['replay'], /replay needs a case file/, 2],
  ['unknown command', undefined, ['play'], /unknown command "play"/, 2],
  ['unknown backend', undefined, ['replay', 'x.json', '--backend', 'gpu'], /--backend must be one of native/, 2],
];

for (const [what, input, args, message, status] of invalid) {
  test(`replay refuses ${what} with a clear message and a non-zero exit`, () => {
    const r = run(args, input);
    assert.equal(r.status, status, `exit status; stderr: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  });
}
