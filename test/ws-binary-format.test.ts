/**
 * The binary frames: the worked examples of docs/websocket.md are byte for byte what the
 * encoder writes, every section type survives a round trip (weights and
 * potentials as float32, rewards exactly), ids of any kind are padded to 4
 * bytes with zeros, and a reader refuses what does not follow the layout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doc, section } from './helpers/docs.js';
import { BinaryFrameError, decodeFrame, encodeFrame, encodeFrameParts, spikeLists, weightRows } from '../src/ws/binary-format.js';

/** The hex dumps of docs/websocket.md "Binary frames", in order: each line hex bytes, then (after a wide gap) what they are. */
function documentedExamples(): Buffer[] {
  return [...section(doc('docs/websocket.md'), 'Binary frames').matchAll(/```text\n([\s\S]*?)```/g)].map((block) => {
    const hex = block[1]
      .split('\n')
      .map((l) => l.split(/ {3,}(?=[a-z])/)[0])
      .join(' ')
      .trim()
      .split(/\s+/);
    return Buffer.from(hex.map((h) => parseInt(h, 16)));
  });
}

test("the documented example frames are what the encoder writes, and read back", () => {
  const [bytes, rewardBytes] = documentedExamples();
  const frame = encodeFrame({
    kind: 'step',
    id: 7,
    step: 12,
    steps: 1,
    pending: true,
    sections: [
      { type: 'spikes', index: 1, steps: [[]] },
      { type: 'potentials', index: 1, values: [-61.5] },
    ],
  });
  assert.equal(bytes.length, 60);
  assert.deepEqual(bytes, frame);
  const d = decodeFrame(bytes);
  assert.deepEqual(
    { version: d.version, kind: d.kind, pending: d.pending, id: d.id, step: d.step, steps: d.steps },
    { version: 1, kind: 'step', pending: true, id: 7, step: 12, steps: 1 },
  );
  assert.equal(d.sections.length, 2);
  assert.deepEqual(spikeLists(d.sections[0] as never), [[]]);
  assert.deepEqual(Array.from((d.sections[1] as { values: Float32Array }).values), [-61.5]);

  assert.equal(rewardBytes.length, 44);
  assert.deepEqual(rewardBytes, encodeFrame({ kind: 'rewardEvent', step: 12, sections: [{ type: 'reward', source: 'deferred', reward: -1 }] }));
  const r = decodeFrame(rewardBytes);
  assert.deepEqual(
    { kind: r.kind, pending: r.pending, id: r.id, step: r.step, steps: r.steps, sections: r.sections },
    { kind: 'rewardEvent', pending: false, id: undefined, step: 12, steps: 0, sections: [{ type: 'reward', index: 0, source: 'deferred', reward: -1 }] },
  );
});

test('the documented frame of a batch is what the encoder writes: a copy section before each copy\'s sections', () => {
  const [, , batchBytes] = documentedExamples();
  assert.equal(batchBytes.length, 84);
  const sections = [
    { type: 'copy', copy: 0 },
    { type: 'counts', index: 1, counts: [1] },
    { type: 'copy', copy: 1 },
    { type: 'counts', index: 1, counts: [0] },
  ] as const;
  assert.deepEqual(batchBytes, encodeFrame({ kind: 'step', id: 7, step: 12, steps: 1, sections: [...sections] }));
  const d = decodeFrame(batchBytes);
  assert.deepEqual(
    d.sections.map((s) => (s.type === 'copy' ? { type: s.type, index: s.index, copy: s.copy } : s.type === 'counts' ? { type: s.type, index: s.index, counts: Array.from(s.counts) } : s)),
    [
      { type: 'copy', index: 0, copy: 0 },
      { type: 'counts', index: 1, counts: [1] },
      { type: 'copy', index: 0, copy: 1 },
      { type: 'counts', index: 1, counts: [0] },
    ],
  );
});

test('a reward section keeps the reward exactly (float64) and names its source', () => {
  for (const [source, reward] of [
    ['step', 0.1],
    ['deferred', -1e30],
    ['implicit', 0],
    ['step', 5e-324],
  ] as const) {
    const d = decodeFrame(encodeFrame({ kind: 'rewardEvent', step: 2 ** 40, sections: [{ type: 'reward', source, reward }] }));
    assert.deepEqual(d.sections, [{ type: 'reward', index: 0, source, reward }]);
    assert.equal(d.step, 2 ** 40);
  }
});

test('every section type round-trips; floats become float32; ids are padded with zeros', () => {
  const w = [
    [0.1, -2.5, 3],
    [1e-7, 7.25, 0],
  ];
  for (const id of [undefined, 0, 123456, 'a', 'ab', 'abc', 'abcd', 'çé→∑', -1.5]) {
    const buf = encodeFrame({
      kind: 'step',
      id,
      step: 2 ** 40 + 3,
      steps: 3,
      pending: false,
      sections: [
        { type: 'spikes', index: 0, steps: [[0, 5], [], [65_536]] },
        { type: 'counts', index: 2, counts: [0, 4_000_000_000, 3] },
        { type: 'potentials', index: 1, values: new Float64Array([-65.123456789, 0]) },
        { type: 'weights', index: 3, rows: 2, cols: 3, values: w },
        { type: 'weights', index: 4, rows: 2, cols: 3, values: w.flat() },
      ],
    });
    assert.equal(buf.length % 4, 0);
    const idLen = buf.readUInt32LE(4);
    for (let i = 24 + idLen; i < 24 + ((idLen + 3) & ~3); i++) assert.equal(buf[i], 0, 'padding is zero');
    const d = decodeFrame(buf);
    assert.equal(d.id, id);
    assert.equal(d.step, 2 ** 40 + 3, 'the step count is exact past 2^32');
    assert.equal(d.steps, 3);
    const [sp, counts, pot, w1, w2] = d.sections as any[];
    assert.deepEqual(spikeLists(sp), [[0, 5], [], [65_536]]);
    assert.deepEqual(Array.from(counts.counts), [0, 4_000_000_000, 3]);
    assert.deepEqual(Array.from(pot.values), [Math.fround(-65.123456789), 0]);
    assert.deepEqual(weightRows(w1), w.map((r) => r.map(Math.fround)));
    assert.deepEqual(weightRows(w2), weightRows(w1));
    assert.deepEqual([w1.index, w1.rows, w1.cols, counts.index, pot.index], [3, 2, 3, 2, 1]);
  }
});

test('a reader refuses a frame that does not follow the layout', () => {
  const good = encodeFrame({ kind: 'weightsEvent', step: 1, sections: [{ type: 'weights', index: 0, rows: 2, cols: 2, values: [1, 2, 3, 4] }] });
  const cases: [Buffer, RegExp][] = [
    [good.subarray(0, 20), /header runs past the end/],
    [good.subarray(0, good.length - 4), /section 0 runs past the end/],
    [Buffer.concat([good, Buffer.alloc(4)]), /4 bytes after the last section/],
    [Buffer.from([2, ...good.subarray(1)]), /version 2, this reader knows 1/],
    [Buffer.from([1, 9, ...good.subarray(2)]), /unknown kind 9/],
  ];
  const badSection = Buffer.from(good);
  badSection[24] = 8;
  cases.push([badSection, /section 0: unknown type 8/]);
  const reward = encodeFrame({ kind: 'rewardEvent', step: 1, sections: [{ type: 'reward', source: 'step', reward: 1 }] });
  const badSource = Buffer.from(reward);
  badSource.writeUInt32LE(9, 28);
  cases.push([badSource, /section 0: unknown reward source 9/], [reward.subarray(0, 40), /section 0 runs past the end/]);
  for (const [buf, message] of cases) assert.throws(() => decodeFrame(buf), (e: Error) => e instanceof BinaryFrameError && message.test(e.message));
});

test('a frame written in parts is the same bytes as written in one go, each weights64 part at most the size asked', () => {
  const a = Float64Array.from({ length: 3 * 5 }, (_, k) => k / 7 - 1);
  const b = Float64Array.from({ length: 2 * 2 }, (_, k) => -k * 1e300);
  const frame = {
    kind: 'weights' as const,
    id: 'r1',
    step: 42,
    sections: [
      { type: 'weights64' as const, index: 0, rows: 3, cols: 5, values: a },
      { type: 'counts' as const, index: 1, counts: [3, 1] },
      { type: 'weights64' as const, index: 2, rows: 2, cols: 2, values: b },
    ],
  };
  const parts = [...encodeFrameParts(frame, 32)];
  assert.deepEqual(Buffer.concat(parts), encodeFrame(frame));
  assert.ok(parts.length > 6, `${parts.length} parts`);
  assert.ok(parts.every((p) => p.length <= Math.max(32, 24 + 4 * 4)));
});
