/**
 * A snapshot sent a part at a time is the same bytes as one built in one
 * go, and the copy a session makes for such a reply (in pauses) is the
 * snapshot of that moment, MSTDPET's eligibility trace included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Network, VALUES_PER_PAUSE } from '../src/engine/index.js';
import { jsonStream } from '../src/api/json-slices.js';
import { blobPieces, blobViews, encodeBlob, planBlob } from '../src/persist/codec.js';

test('a blob sent as views is the same bytes as the blob built in one go, no part over the size asked but the head', () => {
  const value = {
    name: 'x',
    a: Float64Array.from({ length: 37 }, (_, k) => (k === 3 ? -0 : k / 7 - 2)),
    nested: { b: [1.5, -0, 3], c: new Float64Array(0), d: [], e: Float64Array.of(1e300, -1e-300) },
    f: new Float64Array(new ArrayBuffer(8 * 20), 8 * 5, 9).fill(0.25),
  };
  const parts = [...blobViews(planBlob(value), 32)];
  assert.deepEqual(Buffer.concat(parts), encodeBlob(value));
  assert.ok(parts.slice(1).every((p) => p.length <= 32 && p.length % 8 === 0));
  assert.ok(parts.length > 8, `${parts.length} parts`);
});

const TRACED = {
  populations: { a: { n: 300 }, b: { n: 300 } },
  connections: { ab: { pre: 'a', post: 'b', rule: { type: 'MSTDPET', lr: [0.01, 0.01] } } },
};

test('the snapshot copied in pauses is the snapshot of that moment, trace included, and later steps do not change it', async () => {
  const net = Network.create(TRACED, { seed: 5 });
  // A few inputs fire, then the outputs (not together, or the eligibility is 0), then a step takes it into the trace.
  const episode: Record<string, number[]>[] = [{ a: Array.from({ length: 300 }, (_, i) => (i % 100 === 0 ? 60 : 0)) }, { b: new Array<number>(300).fill(100) }, {}];
  for (const input of episode) net.step(input);
  const steps = net.snapshotTypedPausing();
  let pauses = 0;
  let r = steps.next();
  for (; !r.done; r = steps.next()) pauses++;
  const copy = r.value;
  // 90,000 weights and as many trace values, each copied VALUES_PER_PAUSE at a time, with a pause between.
  assert.ok(pauses >= 2 * (Math.ceil((300 * 300) / VALUES_PER_PAUSE) - 1), `${pauses} pauses`);
  const et = copy.state.connections.ab.rule.et;
  assert.ok(et instanceof Float64Array && et.some((x) => x !== 0), 'the trace is in it, as a Float64Array');
  const bytes = encodeBlob(copy);
  assert.deepEqual(bytes, encodeBlob(net.snapshotTyped()));
  // The plain snapshot (JSON's) holds the same numbers in the same places.
  assert.deepEqual(bytes, encodeBlob(net.snapshot()));
  // And the JSON reply's text is JSON.stringify's of the plain snapshot.
  let text = '';
  for await (const chunk of jsonStream(copy)) text += String(chunk);
  assert.equal(text, JSON.stringify(net.snapshot()));
  for (const input of episode) net.step(input);
  assert.deepEqual(encodeBlob(copy), bytes, 'the copy did not move with the network');
  assert.notDeepEqual(encodeBlob(net.snapshotTyped()), bytes);
});

/** The documented layout written out by hand: magic, skeleton length, skeleton, zeros to a multiple of 8, the float64s. */
function layout(skeleton: object, numbers: number[]): Buffer {
  const json = Buffer.from(JSON.stringify(skeleton), 'utf8');
  const head = Buffer.alloc((8 + json.length + 7) & ~7);
  head.write('SSB1', 0, 'latin1');
  head.writeUInt32LE(json.length, 4);
  json.copy(head, 8);
  const data = Buffer.alloc(8 * numbers.length);
  numbers.forEach((x, i) => data.writeDoubleLE(x, 8 * i));
  return Buffer.concat([head, data]);
}

test('a blob is the documented layout, whole, as views and as pieces of any size', () => {
  const a = Float64Array.from({ length: 37 }, (_, k) => (k === 3 ? -0 : k / 7 - 2));
  const f = new Float64Array(new ArrayBuffer(8 * 20), 8 * 5, 9).fill(0.25);
  const value = { name: 'x', a, nested: { b: [1.5, -0, 3], c: new Float64Array(0), d: [], e: Float64Array.of(1e300, -1e-300) }, f, g: Float32Array.of(0.1, -2) };
  const expected = layout(
    { name: 'x', a: { $f: 0, $n: 37 }, nested: { b: { $f: 37, $n: 3 }, c: { $f: 40, $n: 0 }, d: [], e: { $f: 40, $n: 2 } }, f: { $f: 42, $n: 9 }, g: { $f: 51, $n: 2 } },
    [...a, 1.5, -0, 3, 1e300, -1e-300, ...f, Math.fround(0.1), -2],
  );
  assert.deepEqual(encodeBlob(value), expected);
  const plan = planBlob(value);
  assert.equal(plan.bytes, expected.length);
  assert.deepEqual(Buffer.concat([...blobViews(plan, 16)]), expected);
  for (const size of [8, 16, 24, 40, 64, 4096]) {
    const pieces = [...blobPieces(plan, size)];
    assert.deepEqual(Buffer.concat(pieces), expected, `pieces of ${size}`);
    // Every piece but the last is exactly the size asked.
    assert.ok(pieces.slice(0, -1).every((p) => p.length === size) && pieces.at(-1)!.length <= size, `pieces of ${size}`);
  }
  // Pieces are copies: a later change of the arrays does not reach them.
  const pieces = [...blobPieces(plan, 64)];
  a[0] = 99;
  assert.deepEqual(Buffer.concat(pieces), expected);
});
