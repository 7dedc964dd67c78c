/**
 * The WebAssembly weight kernels (src/engine/backends/native/weight-kernels.wat)
 * against the JavaScript loops they replace, bit for bit: a connection gives
 * the same weights, deliveries and spikes whichever runs it. And the bytes the
 * engine embeds are those of the committed .wat.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compileWat, WASM_SOURCES } from '../scripts/embed-wasm.js';
import { BATCH_KERNELS_WASM_BASE64 } from '../src/engine/backends/native/batch-kernels-wasm.js';
import { BatchMstdpetRule, BatchMstdpRule, BatchNoOpRule, BatchStdpRule, type BatchRule } from '../src/engine/backends/native/batch-rules.js';
import { PopulationCopy, splitSpikes } from '../src/engine/backends/native/population-copies.js';
import { POPULATION_KERNELS_WASM_BASE64 } from '../src/engine/backends/native/population-kernels-wasm.js';
import { LifPopulation } from '../src/engine/backends/native/population.js';
import { MstdpetRule, MstdpRule, NoOpRule, StdpRule, type NativeRule } from '../src/engine/backends/native/rules.js';
import { wasmKernelsAvailable } from '../src/engine/backends/native/wasm-weights.js';
import { WEIGHT_KERNELS_WASM_BASE64 } from '../src/engine/backends/native/weight-kernels-wasm.js';
import { DenseWeights } from '../src/engine/backends/native/weights.js';
import { DEFAULT_ENGINE_LIMITS } from '../src/engine/limits.js';
import { runToEnd } from '../src/engine/pause.js';
import { resolveSpec } from '../src/engine/validate.js';
import { assertSameBits, lcg } from './helpers/bits.js';

const repoFile = (path: string) => new URL(`../../${path}`, import.meta.url);

test('the embedded WebAssembly bytes are those of the committed .wat sources', async () => {
  const embeddedByName: Record<string, string> = { WEIGHT_KERNELS_WASM_BASE64, POPULATION_KERNELS_WASM_BASE64, BATCH_KERNELS_WASM_BASE64 };
  assert.deepEqual(WASM_SOURCES.map((s) => s.exportName).sort(), Object.keys(embeddedByName).sort());
  for (const s of WASM_SOURCES) {
    const bytes = await compileWat(s.wat, readFileSync(repoFile(s.wat), 'utf8'));
    const embedded = Buffer.from(embeddedByName[s.exportName], 'base64');
    assert.ok(Buffer.from(bytes).equals(embedded), `${s.ts} is stale: run npm run build:wasm`);
  }
});

test('this Node has WebAssembly SIMD, so the kernels below are really compared', () => {
  assert.ok(wasmKernelsAvailable());
});

test('connections below the size threshold keep the JavaScript loops, larger ones take WebAssembly', () => {
  assert.equal(new DenseWeights({ rows: 2, cols: 1, wMin: 0, wMax: 1, weightDecay: 0, soft: false }).usesWasm, false);
  assert.equal(new DenseWeights({ rows: 100, cols: 100, wMin: 0, wMax: 1, weightDecay: 0, soft: false }).usesWasm, true);
  assert.equal(new DenseWeights({ rows: 100, cols: 100, wMin: 0, wMax: 1, weightDecay: 0, soft: false, kernels: 'js' }).usesWasm, false);
  assert.equal(new DenseWeights({ rows: 2, cols: 1, wMin: 0, wMax: 1, weightDecay: 0, soft: false, kernels: 'wasm' }).usesWasm, true);
});

/** A random list of distinct indices below n, ascending, into out; returns its length. */
function pick(rnd: () => number, n: number, p: number, out: Int32Array): number {
  let c = 0;
  for (let i = 0; i < n; i++) if (rnd() < p) out[c++] = i;
  return c;
}

/** Values that exercise the kernels' edge cases: zeros of both signs, tiny and clamping changes. */
function edgy(rnd: () => number, size: number): number {
  const u = rnd();
  if (u < 0.15) return 0;
  if (u < 0.2) return -0;
  if (u < 0.25) return (rnd() - 0.5) * 1e-300;
  if (u < 0.35) return (rnd() - 0.5) * 10 * size;
  return (rnd() - 0.5) * size;
}

const shapes: [number, number][] = [[1, 1], [3, 1], [5, 2], [7, 3], [9, 17], [33, 40], [40, 33], [64, 7]];
const boundsList: [number, number, number][] = [
  // [w_min, w_max, weight_decay]: lazy decay, no decay, -0 as the lower bound, bounds around 0.
  [0, 1, 0.01],
  [0, 3, 0],
  [-0, 1, 0.2],
  [-1, 0.5, 0.001],
];

test('delivery and hard-bound updates give the same bits in WebAssembly as in JavaScript', () => {
  for (const [rows, cols] of shapes) {
    for (const [wMin, wMax, decay] of boundsList) {
      const what = `${rows}x${cols} [${wMin}, ${wMax}] decay ${decay}`;
      const rnd = lcg(rows * 1000 + cols * 7 + Math.round(wMax * 10));
      const js = new DenseWeights({ rows, cols, wMin, wMax, weightDecay: decay, soft: false, kernels: 'js' });
      const wa = new DenseWeights({ rows, cols, wMin, wMax, weightDecay: decay, soft: false, kernels: 'wasm' });
      assert.ok(js.hardLazy && wa.hardLazy);
      const w0 = Array.from({ length: rows * cols }, () => (rnd() < 0.1 ? (rnd() < 0.5 ? wMin : wMax) : wMin + rnd() * (wMax - wMin)));
      js.setFlat(w0);
      wa.setFlat(w0);
      const list = new Int32Array(Math.max(rows, cols));
      const mask = new Uint8Array(rows);
      const outJs = new Float64Array(cols);
      const outWa = new Float64Array(cols);
      for (let step = 0; step < 60; step++) {
        const size = wMax - wMin;
        // Delivery, into an input that already holds something.
        const spikes = pick(rnd, rows, rnd() < 0.3 ? 0.9 : 0.3, list);
        for (let j = 0; j < cols; j++) outJs[j] = outWa[j] = edgy(rnd, 50);
        js.deliver(list, spikes, outJs);
        wa.deliver(list, spikes, outWa);
        assertSameBits(outJs, outWa, `${what}, delivery at step ${step}`);
        // Delivery written whole ("fresh"): what the input would hold had it been zeros.
        const zerosFirst = new Float64Array(cols);
        js.deliver(list, spikes, zerosFirst);
        for (let j = 0; j < cols; j++) outJs[j] = outWa[j] = edgy(rnd, 50);
        js.deliver(list, spikes, outJs, true);
        wa.deliver(list, spikes, outWa, true);
        assertSameBits(outJs, zerosFirst, `${what}, fresh delivery (JavaScript) at step ${step}`);
        assertSameBits(outWa, zerosFirst, `${what}, fresh delivery (WebAssembly) at step ${step}`);
        js.begin();
        wa.begin();
        // Whole rows with one array; the kernel has a faster loop for
        // arrays without zeros, so half of them have none.
        const noZeros = step % 2 === 0;
        const change = () => {
          const d = edgy(rnd, size);
          return noZeros && d === 0 ? size / 3 : d;
        };
        // STDP's rows (applyStdpRows): each listed row's potentiation in
        // perRow at the listed columns, depression downRow everywhere; upRow 0.
        js.upRow.fill(0);
        wa.upRow.fill(0);
        for (let j = 0; j < cols; j++) js.downRow[j] = wa.downRow[j] = step % 3 === 0 ? change() : Math.abs(change());
        for (let i = 0; i < rows; i++) js.perRow[i] = wa.perRow[i] = step % 3 === 0 ? edgy(rnd, size) : Math.abs(edgy(rnd, size));
        const stdpRows = new Int32Array(rows);
        const stdpRowCount = pick(rnd, rows, 0.4, stdpRows);
        const stdpCols = pick(rnd, cols, step % 4 === 0 ? 0.9 : 0.2, list);
        js.applyStdpRows(stdpRows, stdpRowCount, list, stdpCols);
        wa.applyStdpRows(stdpRows, stdpRowCount, list, stdpCols);
        assertSameBits(js.downRow, wa.downRow, `${what}, STDP rows leave downRow at step ${step}`);
        assertSameBits(js.upRow, wa.upRow, `${what}, STDP rows leave upRow at step ${step}`);
        // A step's rows in one batch (applyRowsNegated).
        for (let j = 0; j < cols; j++) js.downRow[j] = wa.downRow[j] = change();
        const batch = pick(rnd, rows, 0.3, list);
        js.applyRowsNegated(list, batch);
        wa.applyRowsNegated(list, batch);
        // MSTDP's rows: downRow patched per row at listed columns (applyRowsNegatedCross).
        const c = edgy(rnd, 1);
        js.ruleParams[2] = wa.ruleParams[2] = c;
        for (let i = 0; i < rows; i++) js.preVector[i] = wa.preVector[i] = edgy(rnd, size);
        for (let j = 0; j < cols; j++) {
          js.postVector[j] = wa.postVector[j] = noZeros ? Math.abs(edgy(rnd, size)) + size / 7 : edgy(rnd, size);
          js.downRow[j] = wa.downRow[j] = -(c * js.postVector[j]);
        }
        const crossRows = new Int32Array(rows);
        const crossRowCount = pick(rnd, rows, 0.3, crossRows);
        const crossCols = pick(rnd, cols, 0.3, list);
        js.applyRowsNegatedCross(crossRows, crossRowCount, list, crossCols, 2);
        wa.applyRowsNegatedCross(crossRows, crossRowCount, list, crossCols, 2);
        assertSameBits(js.downRow, wa.downRow, `${what}, downRow put back at step ${step}`);
        // Whole rows with both terms (applyRow): zeros of either sign in
        // either array, both at once where the weight must keep its bits.
        for (let r = 0; r < 2; r++) {
          for (let j = 0; j < cols; j++) {
            js.upRow[j] = wa.upRow[j] = edgy(rnd, size);
            js.downRow[j] = wa.downRow[j] = rnd() < 0.3 ? js.upRow[j] * 0 : edgy(rnd, size);
          }
          const i = Math.floor(rnd() * rows);
          js.applyRow(i);
          wa.applyRow(i);
        }
        // Columns (applyCross), both ways of reading perRow.
        for (let i = 0; i < rows; i++) {
          js.perRow[i] = wa.perRow[i] = edgy(rnd, size);
          mask[i] = rnd() < 0.2 ? 1 : 0;
        }
        const colCount = pick(rnd, cols, 0.3, list);
        const split = rnd() < 0.5;
        js.applyCross(mask, list, colCount, split);
        wa.applyCross(mask, list, colCount, split);
        js.end();
        wa.end();
        assert.ok(Object.is(js.scale, wa.scale));
        assertSameBits(js.stored, wa.stored, `${what}, weights after step ${step}`);
      }
      assertSameBits(js.toFlat(), wa.toFlat(), `${what}, final weights`);
    }
  }
});

test("a batch's summed terms (takeTerms) give the same bits in WebAssembly as in JavaScript, and are cleared", () => {
  for (const [rows, cols] of shapes) {
    for (const [wMin, wMax, decay] of boundsList) {
      const what = `${rows}x${cols} [${wMin}, ${wMax}] decay ${decay}`;
      const rnd = lcg(rows * 31 + cols * 1000 + Math.round(wMax * 10));
      const js = new DenseWeights({ rows, cols, wMin, wMax, weightDecay: decay, soft: false, kernels: 'js', terms: true });
      const wa = new DenseWeights({ rows, cols, wMin, wMax, weightDecay: decay, soft: false, kernels: 'wasm', terms: true });
      // The terms live next to the weights, where the kernel reads them.
      assert.ok(wa.termsUp !== null && wa.termsDown !== null, `${what}: terms in WebAssembly memory`);
      const upJs = new Float64Array(rows * cols);
      const downJs = new Float64Array(rows * cols);
      const upWa = wa.termsUp;
      const downWa = wa.termsDown;
      const w0 = Array.from({ length: rows * cols }, () => (rnd() < 0.1 ? (rnd() < 0.5 ? wMin : wMax) : wMin + rnd() * (wMax - wMin)));
      js.setFlat(w0);
      wa.setFlat(w0);
      const rowList = new Int32Array(rows);
      const colList = new Int32Array(cols);
      const rowMask = new Uint8Array(rows);
      for (let step = 0; step < 60; step++) {
        const size = wMax - wMin;
        const rowCount = pick(rnd, rows, rnd() < 0.3 ? 0.8 : 0.2, rowList);
        const colCount = pick(rnd, cols, rnd() < 0.3 ? 0.8 : 0.2, colList);
        rowMask.fill(0);
        for (let q = 0; q < rowCount; q++) rowMask[rowList[q]] = 1;
        // Sums of non-negative terms, as BatchTerms adds them: some +0, some tiny, some past the bounds.
        const term = () => Math.abs(edgy(rnd, size)) + 0;
        for (let q = 0; q < rowCount; q++) {
          for (let j = 0; j < cols; j++) {
            const k = rowList[q] * cols + j;
            upJs[k] = upWa[k] = term();
            downJs[k] = downWa[k] = term();
          }
        }
        for (let i = 0; i < rows; i++) {
          if (rowMask[i] === 1) continue;
          for (let q = 0; q < colCount; q++) {
            const k = i * cols + colList[q];
            upJs[k] = upWa[k] = term();
            downJs[k] = downWa[k] = term();
          }
        }
        js.ruleParams[0] = wa.ruleParams[0] = 1;
        js.begin();
        wa.begin();
        js.takeTerms(rowList, rowCount, rowMask, colList, colCount, upJs, downJs, 0);
        wa.takeTerms(rowList, rowCount, rowMask, colList, colCount, upWa, downWa, 0);
        js.end();
        wa.end();
        assert.ok(Object.is(js.scale, wa.scale));
        assertSameBits(js.stored, wa.stored, `${what}, weights after step ${step}`);
        assertSameBits(upJs, upWa, `${what}, potentiation cleared after step ${step}`);
        assertSameBits(downJs, downWa, `${what}, depression cleared after step ${step}`);
        assert.ok(upWa.every((x) => Object.is(x, 0)) && downWa.every((x) => Object.is(x, 0)), `${what}: every term taken is cleared to +0`);
      }
      assertSameBits(js.toFlat(), wa.toFlat(), `${what}, final weights`);
    }
  }
});

/** One connection between two populations, stepped as the native kernel steps it. */
class Harness {
  readonly pre: LifPopulation;
  readonly post: LifPopulation;
  readonly w: DenseWeights;
  readonly rule: NativeRule;

  constructor(spec: unknown, kernels: 'js' | 'wasm') {
    const net = resolveSpec(spec, DEFAULT_ENGINE_LIMITS);
    const c = net.connections.c;
    this.pre = new LifPopulation(net.populations.pre, net.dt, kernels);
    this.post = new LifPopulation(net.populations.post, net.dt, kernels);
    this.w = new DenseWeights({
      rows: this.pre.n, cols: this.post.n, wMin: c.w_min, wMax: c.w_max, weightDecay: c.rule.weight_decay, soft: c.rule.boundary === 'soft', kernels, trace: c.rule.type === 'MSTDPET',
    });
    const rnd = lcg(99);
    this.w.setFlat(Array.from({ length: this.pre.n * this.post.n }, () => c.w_min + rnd() * (c.w_max - c.w_min)));
    const parts = { pre: this.pre, post: this.post, w: this.w, rule: c.rule, dt: net.dt };
    if (c.rule.type === 'STDP') this.rule = new StdpRule(parts);
    else if (c.rule.type === 'MSTDP') this.rule = new MstdpRule(parts);
    else if (c.rule.type === 'MSTDPET') this.rule = new MstdpetRule(parts);
    else this.rule = new NoOpRule(parts);
  }

  step(x: Float64Array, reward: number): void {
    this.pre.current.set(x);
    this.pre.stepDense();
    this.post.current.fill(0);
    if (this.pre.spikeCount > 0) this.w.deliver(this.pre.spikeIdx, this.pre.spikeCount, this.post.current);
    this.post.stepDense();
    this.rule.update(reward);
  }
}

test('the eager decay (bounds that exclude 0) gives the same bits in WebAssembly as in JavaScript', () => {
  for (const [rows, cols] of shapes) {
    const js = new DenseWeights({ rows, cols, wMin: 0.1, wMax: 2, weightDecay: 0.03, soft: false, kernels: 'js' });
    const wa = new DenseWeights({ rows, cols, wMin: 0.1, wMax: 2, weightDecay: 0.03, soft: false, kernels: 'wasm' });
    assert.ok(!js.hardLazy && js.decays);
    const rnd = lcg(rows + 31 * cols);
    const w0 = Array.from({ length: rows * cols }, () => 0.1 + rnd() * 1.9);
    js.setFlat(w0);
    wa.setFlat(w0);
    for (let step = 0; step < 80; step++) {
      js.begin();
      wa.begin();
      js.end();
      wa.end();
      assertSameBits(js.stored, wa.stored, `${rows}x${cols} after ${step + 1} decays`);
    }
  }
});

test('every rule and bound drives the same connection to the same bits with WebAssembly as with JavaScript', () => {
  const rules = [
    { type: 'STDP', lr: [0.02, 0.03], weight_decay: 0.001 },
    { type: 'STDP', lr: [0.02, 0.03] },
    { type: 'STDP', lr: [0.02, 0.03], boundary: 'soft', weight_decay: 0.001 },
    { type: 'MSTDP', lr: 0.05 },
    { type: 'MSTDP', lr: 0.05, weight_decay: 0.01 },
    { type: 'MSTDP', lr: 0.05, boundary: 'soft' },
    { type: 'MSTDPET', lr: 0.05, tc_e_trace: 5 },
    // Rewards applied row by row, with many weights replayed at their bounds.
    { type: 'MSTDPET', lr: 3, tc_e_trace: 5 },
    { type: 'MSTDPET', lr: 0.05, weight_decay: 0.01 },
    { type: 'MSTDPET', lr: 0.05, boundary: 'soft' },
    { type: 'NoOp', weight_decay: 0.01 },
  ];
  for (const [nPre, nPost] of [[60, 45], [45, 131]]) {
    for (const [wMin, wMax] of [[0, 2], [0.1, 2], [-1, 1]]) {
      rules.forEach((rule, r) => {
        const spec = {
          dt: 0.1,
          populations: { pre: { n: nPre, refrac_length: 0 }, post: { n: nPost, refrac_length: 0.3 } },
          connections: { c: { pre: 'pre', post: 'post', w_min: wMin, w_max: wMax, rule } },
        };
        const js = new Harness(spec, 'js');
        const wa = new Harness(spec, 'wasm');
        const rnd = lcg(7 + r);
        const x = new Float64Array(nPre);
        for (let t = 0; t < 300; t++) {
          for (let i = 0; i < nPre; i++) x[i] = rnd() < 0.15 ? 60 + rnd() * 40 : 0;
          const reward = rnd() - 0.4;
          js.step(x, reward);
          wa.step(x, reward);
          const what = `${nPre}x${nPost} [${wMin}, ${wMax}] ${JSON.stringify(rule)} at step ${t}`;
          assert.deepEqual(wa.post.spikeIdx.subarray(0, wa.post.spikeCount), js.post.spikeIdx.subarray(0, js.post.spikeCount), `${what}: post spikes`);
          assertSameBits(js.post.v, wa.post.v, `${what}: post v`);
          if (t % 10 === 9) assertSameBits(js.w.stored, wa.w.stored, `${what}: stored weights`);
          assertSameBits(js.w.preVector, wa.w.preVector, `${what}: per pre neuron vector (MSTDP p_plus)`);
          assertSameBits(js.w.postVector, wa.w.postVector, `${what}: per post neuron vector (MSTDP p_minus)`);
          if (js.w.trace !== null) assertSameBits(js.w.trace, wa.w.trace as Float64Array, `${what}: MSTDPET trace`);
        }
        assertSameBits(js.w.toFlat(), wa.w.toFlat(), `${JSON.stringify(rule)}: final weights`);
      });
    }
  }
});

/** One connection of a batch, stepped as the native kernel steps a batch: every copy's populations as one, the rules of batch-rules.ts. */
class BatchHarness {
  readonly pre: LifPopulation;
  readonly post: LifPopulation;
  readonly preCopies: PopulationCopy[];
  readonly postCopies: PopulationCopy[];
  readonly w: DenseWeights;
  readonly rule: BatchRule;

  constructor(spec: Record<string, unknown>, copies: number, kernels: 'js' | 'wasm') {
    const net = resolveSpec({ ...spec, batch_size: copies }, DEFAULT_ENGINE_LIMITS);
    const c = net.connections.c;
    const nPre = net.populations.pre.n;
    const nPost = net.populations.post.n;
    this.pre = new LifPopulation({ ...net.populations.pre, n: copies * nPre }, net.dt, kernels);
    this.post = new LifPopulation({ ...net.populations.post, n: copies * nPost }, net.dt, kernels);
    this.preCopies = Array.from({ length: copies }, (_, b) => new PopulationCopy(this.pre, nPre, b));
    this.postCopies = Array.from({ length: copies }, (_, b) => new PopulationCopy(this.post, nPost, b));
    this.w = new DenseWeights({
      rows: nPre, cols: nPost, wMin: c.w_min, wMax: c.w_max, weightDecay: c.rule.weight_decay, soft: c.rule.boundary === 'soft', kernels, terms: true, copies,
    });
    const rnd = lcg(98);
    this.w.setFlat(Array.from({ length: nPre * nPost }, () => c.w_min + rnd() * (c.w_max - c.w_min)));
    const parts = { pre: this.preCopies, post: this.postCopies, w: this.w, rule: c.rule, dt: net.dt };
    if (c.rule.type === 'STDP') this.rule = new BatchStdpRule(parts);
    else if (c.rule.type === 'MSTDP') this.rule = new BatchMstdpRule(parts);
    else if (c.rule.type === 'MSTDPET') this.rule = new BatchMstdpetRule(parts);
    else this.rule = new BatchNoOpRule(parts);
  }

  /** x: every copy's input, copy-major; rewards: one per copy. */
  step(x: Float64Array, rewards: Float64Array): void {
    this.pre.current.set(x);
    this.pre.stepDense();
    splitSpikes(this.pre, this.preCopies);
    this.post.current.fill(0);
    if (this.w.batch !== null) {
      if (this.pre.spikeCount > 0) this.w.deliverCopies(this.pre.spikeIdx, this.pre.spikeCount, this.post.current);
    } else {
      const n = this.postCopies[0].n;
      this.preCopies.forEach((p, b) => {
        if (p.spikeCount > 0) this.w.deliver(p.spikeIdx, p.spikeCount, this.post.current.subarray(b * n, (b + 1) * n));
      });
    }
    this.post.stepDense();
    splitSpikes(this.post, this.postCopies);
    this.rule.update(rewards);
  }
}

test("a batch's kernels (every copy's delivery, MSTDP's terms, the p vectors) give the same bits as the JavaScript loops", () => {
  const rules = [
    { type: 'MSTDP', lr: 0.05 },
    { type: 'MSTDP', lr: 0.05, weight_decay: 0.01 },
    { type: 'MSTDP', lr: 0.05, reduction: 'mean' },
    { type: 'MSTDP', lr: 0.05, boundary: 'soft' },
    { type: 'MSTDPET', lr: 0.05, tc_e_trace: 5 },
    { type: 'STDP', lr: [0.02, 0.03], weight_decay: 0.001 },
    { type: 'NoOp', weight_decay: 0.01 },
  ];
  for (const [nPre, nPost, copies] of [[60, 45, 3], [45, 131, 4], [7, 3, 5], [41, 30, 16]]) {
    for (const [wMin, wMax] of [[0, 2], [-1, 1]]) {
      rules.forEach((rule, r) => {
        const spec = {
          dt: 0.1,
          populations: { pre: { n: nPre, refrac_length: 0 }, post: { n: nPost, refrac_length: 0.3 } },
          connections: { c: { pre: 'pre', post: 'post', w_min: wMin, w_max: wMax, rule } },
        };
        const js = new BatchHarness(spec, copies, 'js');
        const wa = new BatchHarness(spec, copies, 'wasm');
        assert.ok(wa.w.batch !== null && js.w.batch === null, 'the batch kernels run one and not the other');
        const rnd = lcg(11 + r);
        const x = new Float64Array(copies * nPre);
        const rewards = new Float64Array(copies);
        for (let t = 0; t < 300; t++) {
          // Busy stretches (copies sharing rows and columns) and sparse ones (each copy's own).
          const rate = t % 100 < 50 ? 0.15 : 0.02;
          for (let i = 0; i < x.length; i++) x[i] = rnd() < rate ? 60 + rnd() * 40 : 0;
          // Some copies unrewarded (their terms skipped), some rewarded with -0.
          for (let b = 0; b < copies; b++) rewards[b] = rnd() < 0.2 ? (rnd() < 0.5 ? 0 : -0) : rnd() - 0.4;
          js.step(x, rewards);
          wa.step(x, rewards);
          const what = `${copies} x ${nPre}x${nPost} [${wMin}, ${wMax}] ${JSON.stringify(rule)} at step ${t}`;
          assert.deepEqual(wa.post.spikeIdx.subarray(0, wa.post.spikeCount), js.post.spikeIdx.subarray(0, js.post.spikeCount), `${what}: post spikes`);
          assertSameBits(js.post.v, wa.post.v, `${what}: post v`);
          assertSameBits(js.w.stored, wa.w.stored, `${what}: stored weights`);
        }
        assert.deepStrictEqual(wa.rule.getState(), js.rule.getState(), `${JSON.stringify(rule)}: rule state`);
        assertSameBits(js.w.toFlat(), wa.w.toFlat(), `${JSON.stringify(rule)}: final weights`);
      });
    }
  }
});

test("MSTDP's synaptic traces decay and take their spikes to the bit of p * d + a * s, in WebAssembly as in JavaScript", () => {
  const rnd = lcg(4242);
  for (const n of [1, 2, 7, 64]) {
    // a of either sign and either zero; p with zeros of both signs.
    for (const a of [1, -1, 0.25, 0, -0]) {
      const js = new DenseWeights({ rows: n, cols: n + 1, wMin: 0, wMax: 1, weightDecay: 0, soft: false, kernels: 'js' });
      const wa = new DenseWeights({ rows: n, cols: n + 1, wMin: 0, wMax: 1, weightDecay: 0, soft: false, kernels: 'wasm' });
      for (const w of [js, wa]) {
        w.ruleParams[1] = 0.9;
        w.ruleParams[2] = a;
      }
      const spikes = new Int32Array(n);
      for (let step = 0; step < 20; step++) {
        const p = Array.from({ length: n }, () => (rnd() < 0.3 ? (rnd() < 0.5 ? 0 : -0) : edgy(rnd, 2)));
        js.preVector.set(p);
        wa.preVector.set(p);
        const count = pick(rnd, n, 0.3, spikes);
        const s = new Uint8Array(n);
        for (let k = 0; k < count; k++) s[spikes[k]] = 1;
        const expected = Float64Array.from(p, (x, i) => x * 0.9 + a * s[i]);
        js.decayAddPre(1, spikes, count);
        wa.decayAddPre(1, spikes, count);
        assertSameBits(js.preVector, expected, `n ${n}, a ${Object.is(a, -0) ? '-0' : a}, step ${step} (JavaScript)`);
        assertSameBits(wa.preVector, expected, `n ${n}, a ${Object.is(a, -0) ? '-0' : a}, step ${step} (WebAssembly)`);
      }
    }
  }
});

test('rows whose depression is zero at some columns keep the bits there even after a restore brought weights outside the bounds', () => {
  const rows = 9;
  const cols = 33;
  const rnd = lcg(777);
  for (const outside of [false, true]) {
    const js = new DenseWeights({ rows, cols, wMin: 0, wMax: 1, weightDecay: 0, soft: false, kernels: 'js' });
    const wa = new DenseWeights({ rows, cols, wMin: 0, wMax: 1, weightDecay: 0, soft: false, kernels: 'wasm' });
    // What a snapshot may hold: values it bounds in magnitude only, a -0 among them.
    const values = Array.from({ length: rows * cols }, (_, k) => (k % 5 === 0 ? -0 : outside && k % 7 === 0 ? 1.5 : rnd()));
    runToEnd(js.setStoredPausing(values, 1));
    runToEnd(wa.setStoredPausing(values, 1));
    const list = Int32Array.from({ length: rows }, (_, i) => i);
    const postCols = Int32Array.of(2, 7, 30);
    for (let step = 0; step < 4; step++) {
      js.begin();
      wa.begin();
      // Depression never negative, zero at every fourth column: STDP's rows, and a batch of them.
      for (let j = 0; j < cols; j++) js.downRow[j] = wa.downRow[j] = j % 4 === 0 ? 0 : rnd() * 0.1;
      js.upRow.fill(0);
      wa.upRow.fill(0);
      for (let i = 0; i < rows; i++) js.perRow[i] = wa.perRow[i] = rnd() * 0.1;
      js.applyStdpRows(list, rows, postCols, postCols.length);
      wa.applyStdpRows(list, rows, postCols, postCols.length);
      js.applyRowsNegated(list, rows);
      wa.applyRowsNegated(list, rows);
      js.end();
      wa.end();
      assertSameBits(wa.stored, js.stored, `${outside ? 'outside' : 'within'} the bounds, step ${step}`);
    }
    if (outside) assert.equal(js.stored[7 * 4], 1.5, 'a weight outside the bounds where the depression is 0 is left as it is');
  }
});
