/** Every rejected spec or input, with the message a user sees. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network } from '../src/engine/index.js';
import { SpikeserveError, type ErrorCode } from '../src/errors.js';

const base = () => ({
  dt: 0.1,
  populations: { pre: { n: 2 }, post: { n: 1 } },
  connections: { c: { pre: 'pre', post: 'post', rule: { type: 'STDP', lr: [0.1, 0.2] } } },
});

function rejects(spec: unknown, code: ErrorCode, message: RegExp, limits?: { maxNeurons: number; maxSynapses: number }) {
  assert.throws(
    () => Network.create(spec, limits ? { limits } : {}),
    (e: unknown) => {
      assert.ok(e instanceof SpikeserveError, `not a SpikeserveError: ${e}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, message);
      return true;
    },
  );
}

const specCases: [string, (s: any) => unknown, ErrorCode, RegExp][] = [
  ['not an object', () => 42, 'SPEC_INVALID', /^network: must be an object/],
  ['no populations', (s) => (delete s.populations, s), 'SPEC_INVALID', /^network\.populations: expected required property/],
  ['empty populations', (s) => ((s.populations = {}), s), 'SPEC_INVALID', /^network\.populations: /],
  ['unknown top-level field', (s) => ((s.foo = 1), s), 'SPEC_INVALID', /^network\.foo: unknown field/],
  ['unknown population field', (s) => ((s.populations.pre.tau = 3), s), 'SPEC_INVALID', /^network\.populations\.pre\.tau: unknown field/],
  ['unknown connection field', (s) => ((s.connections.c.delay = 3), s), 'SPEC_INVALID', /^network\.connections\.c\.delay: unknown field/],
  ['unknown rule field', (s) => ((s.connections.c.rule.nu = 3), s), 'SPEC_INVALID', /^network\.connections\.c\.rule\.nu: unknown field/],
  ['n not an integer', (s) => ((s.populations.pre.n = 1.5), s), 'SPEC_INVALID', /^network\.populations\.pre\.n: expected integer/],
  ['n zero', (s) => ((s.populations.pre.n = 0), s), 'SPEC_INVALID', /^network\.populations\.pre\.n: expected integer to be greater or equal to 1/],
  ['dt zero', (s) => ((s.dt = 0), s), 'SPEC_INVALID', /^network\.dt: expected number to be greater than 0/],
  ['dt negative', (s) => ((s.dt = -0.1), s), 'SPEC_INVALID', /^network\.dt: /],
  ['dt not finite', (s) => ((s.dt = Infinity), s), 'SPEC_INVALID', /^network\.dt: /],
  ['threshold NaN', (s) => ((s.populations.post.threshold = NaN), s), 'SPEC_INVALID', /^network\.populations\.post\.threshold: /],
  ['tau_s zero', (s) => ((s.populations.post.tau_s = 0), s), 'SPEC_INVALID', /^network\.populations\.post\.tau_s: /],
  ['negative refractory', (s) => ((s.populations.post.refrac_length = -1), s), 'SPEC_INVALID', /^network\.populations\.post\.refrac_length: /],
  ['integer-like name', (s) => ((s.populations = { '1': { n: 1 } }), (s.connections = {}), s), 'SPEC_INVALID', /^network\.populations\.1: invalid name: a name starts with a letter/],
  ['name too long', (s) => ((s.populations = { ['a'.repeat(65)]: { n: 1 } }), (s.connections = {}), s), 'SPEC_INVALID', /invalid name/],
  ['unknown pre population', (s) => ((s.connections.c.pre = 'nope'), s), 'SPEC_INVALID', /^network\.connections\.c\.pre: unknown population "nope"; declared: pre, post/],
  ['unknown post population', (s) => ((s.connections.c.post = 'nope'), s), 'SPEC_INVALID', /^network\.connections\.c\.post: unknown population "nope"/],
  ['w_min > w_max', (s) => ((s.connections.c.w_min = 2), (s.connections.c.w_max = 1), s), 'SPEC_INVALID', /^network\.connections\.c\.w_min: w_min \(2\) must not exceed w_max \(1\)/],
  ['w rows', (s) => ((s.connections.c.w = [[1]]), s), 'SPEC_INVALID', /^network\.connections\.c\.w: must have 2 rows \(one per pre neuron\), got 1/],
  ['w columns', (s) => ((s.connections.c.w = [[1], [1, 2]]), s), 'SPEC_INVALID', /^network\.connections\.c\.w\[1\]: must have 1 columns/],
  ['w non-finite', (s) => ((s.connections.c.w = [[1], [NaN]]), s), 'SPEC_INVALID', /^network\.connections\.c\.w\[1\]\[0\]: /],
  ['unknown rule', (s) => ((s.connections.c.rule.type = 'Hebb'), s), 'SPEC_INVALID', /^network\.connections\.c\.rule\.type: unknown rule "Hebb"; expected one of NoOp, STDP, MSTDP/],
  ['lr of three', (s) => ((s.connections.c.rule.lr = [1, 2, 3]), s), 'SPEC_INVALID', /^network\.connections\.c\.rule\.lr: /],
  ['weight_decay above 1', (s) => ((s.connections.c.rule.weight_decay = 2), s), 'SPEC_INVALID', /^network\.connections\.c\.rule\.weight_decay: /],
  ['bad boundary', (s) => ((s.connections.c.rule.boundary = 'springy'), s), 'SPEC_INVALID', /^network\.connections\.c\.rule\.boundary: /],
  ['bad reduction', (s) => ((s.connections.c.rule.reduction = 'max'), s), 'SPEC_INVALID', /^network\.connections\.c\.rule\.reduction: /],
  ['MSTDP parameter on STDP', (s) => ((s.connections.c.rule.tc_plus = 5), s), 'SPEC_INVALID', /^network\.connections\.c\.rule\.tc_plus: only MSTDP and MSTDPET have this parameter, not STDP/],
  ['tc_minus zero', (s) => ((s.connections.c.rule = { type: 'MSTDP', tc_minus: 0 }), s), 'SPEC_INVALID', /^network\.connections\.c\.rule\.tc_minus: /],
];

for (const [what, mutate, code, message] of specCases) {
  test(`spec rejected: ${what}`, () => rejects(mutate(base()), code, message));
}

test('sizes over the limits are rejected before anything is allocated', () => {
  const huge = { populations: { a: { n: 1e9 }, b: { n: 1e9 } }, connections: { ab: { pre: 'a', post: 'b' } } };
  rejects(huge, 'LIMIT_EXCEEDED', /^network\.populations: 2000000000 neurons in all exceeds the limit of 200000/);
  rejects(base(), 'LIMIT_EXCEEDED', /^network\.populations: 3 neurons in all exceeds the limit of 2$/, { maxNeurons: 2, maxSynapses: 100 });
  rejects(base(), 'LIMIT_EXCEEDED', /^network\.connections: 2 synapses in all exceeds the limit of 1$/, { maxNeurons: 100, maxSynapses: 1 });
});

test('a bad seed is rejected', () => {
  assert.throws(() => Network.create(base(), { seed: -1 }), /seed: must be an integer from 0 to 4294967295/);
  assert.throws(() => Network.create(base(), { seed: 1.5 }), /seed: must be an integer/);
});

test('rule names are accepted in any case and resolved to the canonical spelling', () => {
  for (const [given, canonical] of [['noop', 'NoOp'], ['stdp', 'STDP'], ['Mstdp', 'MSTDP']]) {
    const s = base();
    (s.connections.c.rule as any) = { type: given };
    assert.equal(Network.create(s).spec.connections.c.rule.type, canonical);
  }
});

test('a connection without a rule is NoOp with bounds [0, 1]', () => {
  const s = base();
  delete (s.connections.c as any).rule;
  const c = Network.create(s).spec.connections.c;
  assert.deepEqual(c, { pre: 'pre', post: 'post', w_min: 0, w_max: 1, rule: { type: 'NoOp', lr: [0, 0], weight_decay: 0, boundary: 'hard', reduction: 'sum' } });
});

const inputCases: [string, () => [unknown, unknown?], RegExp][] = [
  ['unknown population', () => [{ nope: [1] }], /^inputs\.nope: unknown population; this network has pre, post/],
  ['wrong length', () => [{ pre: [1, 2, 3] }], /^inputs\.pre: must have 2 entries \(one per neuron\), got 3/],
  ['NaN in a vector', () => [{ pre: [1, NaN] }], /^inputs\.pre\[1\]: must be a finite number/],
  ['Infinity as a number', () => [{ pre: Infinity }], /^inputs\.pre: must be a finite number/],
  ['a string', () => [{ pre: 'x' }], /^inputs\.pre: must be a number or a vector of 2 numbers/],
  ['not an object', () => [[1, 2]], /^inputs: must be an object keyed by population name/],
  ['non-finite reward', () => [{}, NaN], /^reward: must be a finite number/],
  ['an input beyond 1e30 (float32 backends would overflow)', () => [{ pre: [0, -1e31] }], /^inputs\.pre\[1\]: must be a finite number of magnitude at most 1e\+30/],
  ['a typed-array input beyond 1e30', () => [{ pre: new Float64Array([2e30, 0]) }], /^inputs\.pre\[0\]: must be a finite number of magnitude at most 1e\+30/],
  ['a typed-array input with NaN', () => [{ pre: new Float64Array([0, NaN]) }], /^inputs\.pre\[1\]: must be a finite number/],
  ['a reward beyond 1e30', () => [{}, 1e31], /^reward: must be a finite number of magnitude at most 1e\+30/],
  ['a string reward', () => [{}, '1'], /^reward: must be a finite number/],
];

for (const [what, args, message] of inputCases) {
  test(`step input rejected, state untouched: ${what}`, () => {
    const net = Network.create(base(), { seed: 5 });
    net.step({ pre: [100, 0], post: 100 }, undefined, { deferReward: true });
    const before = JSON.stringify(net.snapshot());
    const [inputs, reward] = args();
    assert.throws(
      () => net.step(inputs as any, reward as any),
      (e: SpikeserveError) => e.code === 'INPUT_INVALID' && message.test(e.message),
    );
    assert.equal(JSON.stringify(net.snapshot()), before, 'the network changed');
    assert.equal(net.pending, true, 'the pending update was not completed by a rejected step');
  });
}

test('a non-finite reward completes nothing', () => {
  const net = Network.create(base());
  net.step({}, undefined, { deferReward: true });
  assert.throws(() => net.reward(Infinity), /reward: must be a finite number/);
  assert.equal(net.pending, true);
});
