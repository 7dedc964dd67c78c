/**
 * A dense weight matrix [rows = pre][cols = post] with a lazily applied decay
 * scale: the real weight is stored[k] * scale.
 *
 * Weight decay multiplies every weight by (1 - d) each update; doing that
 * eagerly costs the whole matrix every step. When w_min <= 0 <= w_max a decayed
 * weight can never leave the bounds, so the clamp is a no-op for every weight
 * the rule did not touch, and folding the decay into `scale` is exact. Only the
 * weights a rule touches are written, at stored = w_new / scale_new. Otherwise
 * (the bounds exclude 0, or d = 1) the decay and clamp run eagerly.
 *
 * An update is begin(), then applyRow() / applyCross() for the synapses a
 * rule touches, then end(). Those two loops are the only places the
 * per-synapse arithmetic lives, and they take only integers and typed arrays,
 * so nothing is boxed or allocated on the hot path.
 *
 * Connections of at least WASM_MIN_SYNAPSES keep the matrix and the rules'
 * scratch rows in WebAssembly memory (wasm-weights.ts), where delivery,
 * the hard-bound, lazy-decay updates and the eager decay run as WebAssembly
 * kernels with the same bits as the loops below; the soft-bound updates run
 * the loops below on the same views.
 */
import { copyPausing, VALUES_PER_PAUSE } from '../../pause.js';
import { LazyColumns } from './lazy-columns.js';
import { LazyRewards, lazyRewardSlots } from './lazy-rewards.js';
import type { WasmBatch } from './wasm-batch.js';
import { WasmWeights } from './wasm-weights.js';

/** Which loops a DenseWeights runs: 'auto' picks WebAssembly where available and worth it. */
export type WeightKernels = 'auto' | 'js' | 'wasm';

/**
 * Below this many synapses the JavaScript loops stay: a call into
 * WebAssembly and the copies around it cost more than the loops save, and
 * each WebAssembly memory reserves address space.
 */
export const WASM_MIN_SYNAPSES = 1024;
/**
 * Largest matrix the kernels' index arithmetic allows (2^31 - 1 entries, 16 GiB
 * of weights): offsets then fit int32, and `| 0` spares an overflow check per
 * access.
 */
const MAX_SYNAPSES = 0x7fffffff;

/** A connection's matrix as DenseWeights builds it. */
export interface DenseWeightsOptions {
  /** pre.n */
  rows: number;
  /** post.n */
  cols: number;
  wMin: number;
  wMax: number;
  weightDecay: number;
  /** Soft bounds (the update scaled by the distance to the bound) instead of clamping. */
  soft: boolean;
  /** Default 'auto'. */
  kernels?: WeightKernels;
  /** Room for MSTDP's lazy columns (used where the case allows; see lazy-columns.ts). Default false. */
  lazyColumns?: boolean;
  /** A second matrix the size of this one next to it, for MSTDPET's trace (see `trace`). Default false. */
  trace?: boolean;
  /** Two more matrices the size of this one, for a batch's summed terms (see `termsUp`). Default false. */
  terms?: boolean;
  /** A batch's copies: with terms, their state goes next to the matrix too (see `batch`). Default 1. */
  copies?: number;
}

export class DenseWeights {
  readonly rows: number;
  readonly cols: number;
  readonly stored: Float64Array;
  scale = 1;
  readonly wMin: number;
  readonly wMax: number;
  readonly soft: boolean;
  /** Scratch for rules: per-column potentiation and depression of one row. */
  readonly upRow: Float64Array;
  readonly downRow: Float64Array;
  /** Scratch for rules: one signed value per row (see applyCross). */
  readonly perRow: Float64Array;
  /**
   * A rule's own per pre and per post neuron vectors (MSTDP's p_plus and
   * p_minus) and scalars, kept here so that the vector operations below run
   * in WebAssembly next to the matrix. Slots of ruleParams are the rule's to
   * assign; the operations take a slot index, so no double is passed as an
   * argument (it would be boxed).
   */
  readonly preVector: Float64Array;
  readonly postVector: Float64Array;
  readonly ruleParams: Float64Array;
  private readonly factor: number;
  private readonly lazy: boolean;
  /** [factor, wMin, wMax] for decayAndClamp. */
  private readonly decayParams: Float64Array;
  /**
   * Doubles for the kernels, set per call (a double argument would be
   * boxed): the first doubles of the WebAssembly memory when there is one.
   */
  private readonly kernelParams: Float64Array;
  private nextScale = 1;
  /** The WebAssembly kernels over this matrix's memory, or null for the JavaScript loops. */
  private readonly wasm: WasmWeights | null;
  /**
   * MSTDP's pending column updates (lazy-columns.ts), or null where columns
   * are applied at once: the JavaScript loops, soft bounds, eager decay, or
   * a connection built without them.
   */
  readonly lazyColumns: LazyColumns | null;
  /**
   * MSTDPET's eligibility trace as the rule stores it (rules.ts), row-major,
   * or null for other rules: kept next to the weights so that traceAddRows,
   * traceAddCols, foldTraceColumns and applyScaledTrace run as WebAssembly kernels.
   */
  readonly trace: Float64Array | null;
  /**
   * With the trace, the post spikes' columns not yet added into it
   * (trace-columns.ts): synapse (i, j) holds trace[i][j] +
   * traceRowFactors[i] * traceColumns[j], less traceRowChanges[i] *
   * traceColumns[j] until row i's next traceAddRows. Null without a trace.
   */
  readonly traceColumns: Float64Array | null;
  readonly traceRowFactors: Float64Array | null;
  readonly traceRowChanges: Float64Array | null;
  /** With the trace, max |trace[i][j]| over each row i, as traceAddRows left it when asked to keep it. Null without a trace. */
  readonly traceRowMax: Float64Array | null;
  /**
   * A batch's potentiation and depression summed over its copies
   * (batch-rules.ts), or null where the matrix has no room for them in
   * WebAssembly memory: kept next to the weights so that takeTerms runs as
   * a WebAssembly kernel.
   */
  readonly termsUp: Float64Array | null;
  readonly termsDown: Float64Array | null;
  /**
   * A batch's per-copy state and the kernels that run once for all its
   * copies (wasm-batch.ts), next to termsUp and termsDown; null where those
   * are, or the batch kernels are unavailable.
   */
  readonly batch: WasmBatch | null;
  /**
   * MSTDPET's rewards applied row by row (lazy-rewards.ts), or null where
   * every rewarded step updates every weight: set by the rule
   * (enableLazyRewards). Rows then store weights in that file's form, and
   * delivery, flushAll and the weight reads go through it.
   */
  lazyRewards: LazyRewards | null = null;

  /** Below this the scale is folded into the stored values so it never underflows. */
  static readonly RENORMALISE_BELOW = 1e-100;

  constructor(options: DenseWeightsOptions) {
    const { rows, cols, wMin, wMax, weightDecay, soft, kernels = 'auto', lazyColumns = false, trace = false, terms = false, copies = 1 } = options;
    if (rows * cols > MAX_SYNAPSES) throw new RangeError(`a connection of ${rows * cols} synapses exceeds the engine's maximum of ${MAX_SYNAPSES}`);
    this.rows = rows;
    this.cols = cols;
    const useWasm = kernels === 'wasm' || (kernels === 'auto' && rows * cols >= WASM_MIN_SYNAPSES);
    const lazy = weightDecay === 0 || (wMin <= 0 && wMax >= 0 && weightDecay < 1);
    const wantLazy = lazyColumns && lazy && !soft;
    // Lazy columns, a trace and terms need room of their own; a matrix that fits only without them runs them in JavaScript.
    this.wasm = useWasm
      ? (WasmWeights.create({ rows, cols, lazy: wantLazy, trace, terms, copies }) ??
        (wantLazy || trace || terms ? WasmWeights.create({ rows, cols, lazy: false, trace: false }) : null))
      : null;
    if (kernels === 'wasm' && this.wasm === null) throw new RangeError('WebAssembly SIMD kernels are unavailable here, or the connection is too large for them');
    this.stored = this.wasm?.stored ?? new Float64Array(rows * cols);
    this.upRow = this.wasm?.upRow ?? new Float64Array(cols);
    this.downRow = this.wasm?.downRow ?? new Float64Array(cols);
    this.perRow = this.wasm?.perRow ?? new Float64Array(rows);
    this.preVector = this.wasm?.preVector ?? new Float64Array(rows);
    this.postVector = this.wasm?.postVector ?? new Float64Array(cols);
    this.ruleParams = this.wasm?.ruleParams ?? new Float64Array(8);
    this.wMin = wMin;
    this.wMax = wMax;
    this.soft = soft;
    this.factor = 1 - weightDecay;
    this.lazy = lazy;
    this.decayParams = Float64Array.of(this.factor, wMin, wMax);
    this.kernelParams = this.wasm?.params ?? new Float64Array(5);
    this.lazyColumns = this.wasm?.lazy ? new LazyColumns(this.wasm, this.wasm.lazy, rows, this.preVector) : null;
    this.trace = this.wasm?.trace ?? (trace ? new Float64Array(rows * cols) : null);
    this.traceColumns = this.wasm?.traceColumns ?? (trace ? new Float64Array(cols) : null);
    this.traceRowFactors = this.wasm?.traceRowFactors ?? (trace ? new Float64Array(rows) : null);
    this.traceRowChanges = this.wasm?.traceRowChanges ?? (trace ? new Float64Array(rows) : null);
    this.traceRowMax = this.wasm?.traceRowMax ?? (trace ? new Float64Array(rows) : null);
    this.termsUp = this.wasm?.termsUp ?? null;
    this.termsDown = this.wasm?.termsDown ?? null;
    this.batch = this.wasm?.batch ?? null;
    // The matrix starts at zeros.
    this.noteInBounds(wMin <= 0 && wMax >= 0);
  }

  /** Whether the WebAssembly kernels run this matrix's hot loops. */
  get usesWasm(): boolean {
    return this.wasm !== null;
  }

  /** Hard bounds with lazy decay, the common case, where rules may use applyRowsNegated, applyRowsNegatedCross and applyStdpRows. */
  get hardLazy(): boolean {
    return this.lazy && !this.soft;
  }

  get decays(): boolean {
    return this.factor !== 1;
  }

  /**
   * For MSTDPET under hard bounds without weight decay (the trace next to
   * the matrix): its rewards are applied row by row from now on
   * (lazy-rewards.ts). Returns them, or null where the case does not allow
   * it.
   */
  enableLazyRewards(): LazyRewards | null {
    if (!this.hardLazy || this.decays || this.trace === null) return null;
    const w = this.wasm;
    const slots = lazyRewardSlots(this.rows);
    const lazy = new LazyRewards({
      rows: this.rows,
      cols: this.cols,
      wMin: this.wMin,
      wMax: this.wMax,
      u: this.stored,
      trace: this.trace,
      q: this.traceColumns as Float64Array,
      factors: this.traceRowFactors as Float64Array,
      h: w?.lazyH ?? new Float64Array(this.cols),
      real: this.downRow,
      fails: w?.lazyFails ?? new Int32Array(this.cols),
      params: w?.lazyParams ?? new Float64Array(8),
      rowMax: this.traceRowMax as Float64Array,
      rowBounds: () => this.traceRowMaxAll(),
      g: w?.lazyHistoryG ?? new Float64Array(slots),
      qAt: w?.lazyHistoryQ ?? new Float64Array(slots * this.cols),
      hAt: w?.lazyHistoryH ?? new Float64Array((slots + 1) * this.cols),
      wasm: w !== null && w.lazyH !== null ? w : null,
    });
    this.lazyRewards = lazy;
    return lazy;
  }

  /**
   * x_post[j] += sum over spiking i of w[i][j]: only the rows of neurons
   * that spiked; `fresh`, out is written as if it had been zeros.
   */
  deliver(spikeIdx: Int32Array, spikeCount: number, out: Float64Array, fresh = false): void {
    this.flushRows(spikeIdx, spikeCount);
    this.kernelParams[0] = this.scale;
    if (this.wasm !== null && (this.lazyRewards === null || !this.lazyRewards.pending)) {
      this.wasm.deliver(spikeIdx, spikeCount, out, fresh);
      return;
    }
    if (fresh) out.fill(0);
    if (this.lazyRewards !== null && this.lazyRewards.pending) this.lazyRewards.deliver(spikeIdx, spikeCount, out, this.scale);
    else deliverRows(this.stored, this.cols, spikeIdx, spikeCount, out, this.kernelParams);
  }

  /**
   * A batch's delivery (batch !== null): for every spike b * rows + i of
   * spikeIdx[0 .. count), the whole pre population's, out[b * cols + j] +=
   * w[i][j]: each copy's deliver() into its part of out, in one call;
   * `fresh`, out is written as if it had been zeros.
   */
  deliverCopies(spikeIdx: Int32Array, count: number, out: Float64Array, fresh = false): void {
    this.kernelParams[0] = this.scale;
    (this.batch as WasmBatch).deliver(spikeIdx, count, out, fresh);
  }

  /**
   * For hardLazy, with a batch's kernels (batch !== null): MSTDP's update
   * of every copy (WasmBatch.mstdpUpdate), the reduction's factor at
   * ruleParams[slot]. Between begin() and end().
   */
  applyBatchMstdp(slot: number): void {
    this.updateParams();
    (this.batch as WasmBatch).mstdpUpdate(slot);
  }

  begin(): void {
    this.nextScale = this.lazy ? this.scale * this.factor : 1;
  }

  /**
   * Row i: synapse (i, j) gets potentiation upRow[j] and depression downRow[j]
   * (model.md "Learning rules", steps 1-3). Columns where both are 0 only decay.
   */
  applyRow(i: number): void {
    const { stored, scale, factor, lazy, soft, wMin, wMax, upRow, downRow, cols } = this;
    // Multiplying by the reciprocal is within an ulp of dividing and much cheaper;
    // with no decay both scales are exactly 1.
    const inv = 1 / this.nextScale;
    const base = i * cols;
    if (lazy && !soft) {
      if (this.wasm !== null) {
        this.updateParams();
        this.wasm.rowUpDown(i);
        return;
      }
      // The common case, kept branch-light: hard bounds, lazy decay.
      for (let j = 0; j < cols; j++) {
        const up = upRow[j];
        const down = downRow[j];
        if (up === 0 && down === 0) continue;
        const k = base + j;
        let wn = (stored[k] * scale + up - down) * factor;
        wn = wn < wMin ? wMin : wn > wMax ? wMax : wn;
        stored[k] = wn * inv;
      }
      return;
    }
    for (let j = 0; j < cols; j++) {
      const up = upRow[j];
      const down = downRow[j];
      if (up === 0 && down === 0) continue;
      const k = base + j;
      const w = stored[k] * scale;
      let wn = soft ? w + up * (wMax - w) - down * (w - wMin) : w + up - down;
      if (lazy) {
        wn *= factor;
        wn = wn < wMin ? wMin : wn > wMax ? wMax : wn;
        stored[k] = wn * inv;
      } else {
        stored[k] = wn; // end() decays and clamps every weight
      }
    }
  }

  /**
   * For hardLazy only: each listed row i, synapse (i, j) becomes w - m[j]
   * with m = downRow, then decays and is clamped; columns where m[j] is 0
   * are left alone. With m = down - up, one of them 0, this is applyRow's
   * arithmetic exactly: (w + 0) - down and w - down are the same bits, and
   * so are (w + up) - 0 and w - (-up). One array read per synapse instead of
   * two, and one call into WebAssembly for a step's rows.
   */
  applyRowsNegated(rows: Int32Array, count: number): void {
    const params = this.updateParams();
    if (this.wasm !== null) this.wasm.rowsNegated(rows, count);
    else for (let k = 0; k < count; k++) rowHardLazy(this.stored, Math.imul(rows[k], this.cols), this.cols, this.downRow, params);
  }

  /**
   * For hardLazy only: applyRowsNegated for each listed row i, with downRow
   * patched at the listed columns j to -(c * (preVector[i] + postVector[j]))
   * and put back to -(c * postVector[j]) after the row, c = ruleParams[slot]
   * (MSTDP's rows; downRow must hold -(c * postVector) on entry).
   */
  applyRowsNegatedCross(rows: Int32Array, rowCount: number, cols: Int32Array, colCount: number, slot: number): void {
    const params = this.updateParams();
    if (this.wasm !== null) {
      this.wasm.rowsNegatedCross(rows, rowCount, cols, colCount, slot);
      return;
    }
    const { downRow: m, preVector, postVector } = this;
    const c = this.ruleParams[slot];
    for (let k = 0; k < rowCount; k++) {
      const i = rows[k];
      for (let q = 0; q < colCount; q++) {
        const j = cols[q];
        m[j] = -(c * (preVector[i] + postVector[j]));
      }
      rowHardLazy(this.stored, Math.imul(i, this.cols), this.cols, m, params);
      for (let q = 0; q < colCount; q++) {
        const j = cols[q];
        m[j] = -(c * postVector[j]);
      }
    }
  }

  /**
   * For hardLazy only: STDP's rows. Each listed row i takes applyRow's
   * arithmetic with potentiation perRow[i] at the listed columns (the post
   * spikes), 0 elsewhere, and depression downRow: in WebAssembly one call
   * for all of them, in JavaScript applyRow a row at a time. upRow must be
   * 0 at the listed columns, and is again after.
   */
  applyStdpRows(rows: Int32Array, rowCount: number, cols: Int32Array, colCount: number): void {
    if (this.wasm !== null) {
      this.updateParams();
      this.wasm.stdpRows(rows, rowCount, cols, colCount);
      return;
    }
    const { upRow, perRow } = this;
    for (let k = 0; k < rowCount; k++) {
      const i = rows[k];
      for (let q = 0; q < colCount; q++) upRow[cols[q]] = perRow[i];
      this.applyRow(i);
      for (let q = 0; q < colCount; q++) upRow[cols[q]] = 0;
    }
  }

  /**
   * A batch's terms, reduced over its copies (batch-rules.ts), in matrices
   * the size of this one: synapse k = i * cols + j gets potentiation
   * up[k] * ruleParams[slot] and depression down[k] * ruleParams[slot], for
   * every column of the listed rows (of every row when rowList is null) and
   * the listed columns of the rows not listed (rowMask[i] = 0); up[k] and
   * down[k] are set back to 0 as they are taken. Between begin() and end();
   * no lazy columns.
   */
  takeTerms(rowList: Int32Array | null, rowCount: number, rowMask: Uint8Array, colList: Int32Array, colCount: number, up: Float64Array, down: Float64Array, slot: number): void {
    const params = this.updateParams();
    const { stored, cols, rows, soft, lazy, ruleParams } = this;
    // The common case, hard bounds with lazy decay, has a loop of its own without the others' branches.
    const hardLazy = lazy && !soft;
    if (hardLazy && rowList !== null && this.wasm !== null && up === this.termsUp && down === this.termsDown && ruleParams[slot] === 1) {
      this.wasm.takeTerms(rowList, rowCount, rowMask, colList, colCount);
      return;
    }
    const listed = rowList === null ? rows : rowCount;
    for (let q = 0; q < listed; q++) {
      const base = Math.imul(rowList === null ? q : rowList[q], cols);
      if (hardLazy) termsHardLazy(stored, base, null, cols, up, down, ruleParams, slot, params);
      else termsAt(stored, base, null, cols, up, down, ruleParams, slot, soft, lazy, params);
    }
    if (rowList === null || colCount === 0) return;
    for (let i = 0; i < rows; i++) {
      if (rowMask[i] === 1) continue;
      if (hardLazy) termsHardLazy(stored, Math.imul(i, cols), colList, colCount, up, down, ruleParams, slot, params);
      else termsAt(stored, Math.imul(i, cols), colList, colCount, up, down, ruleParams, slot, soft, lazy, params);
    }
  }

  /**
   * Every synapse (i, j) gets the change dw = ruleParams[slot] * (trace[i][j]
   * + traceRowFactors[i] * traceColumns[j]), as potentiation where positive
   * and depression where negative: MSTDPET's dense update. `pending` says
   * whether traceColumns holds anything: where it is all 0 the loop leaves
   * the product out (trace + 0 can only turn a -0 into +0, and dw is then 0
   * either way). No row may have a traceRowChanges pending. Between begin()
   * and end(); synapses where dw is 0 only decay.
   */
  applyScaledTrace(slot: number, pending: boolean): void {
    this.flushAll();
    const params = this.updateParams();
    if (this.wasm !== null && this.wasm.trace !== null && this.lazy && !this.soft) this.wasm.traceIntoWeights(slot, pending);
    else {
      denseScaled(this.stored, this.trace as Float64Array, this.traceRowFactors as Float64Array, this.traceColumns as Float64Array, this.cols, this.ruleParams, slot, this.soft, this.lazy, params);
    }
  }

  /**
   * For every column of the listed rows i: trace[i][j] = (trace[i][j] +
   * postVector[j] * ruleParams[slot]) - traceRowChanges[i] * traceColumns[j],
   * the subtraction left out where traceRowChanges[i] is 0 (traceColumns is
   * never negative, so it would change no bit). The caller clears the rows'
   * traceRowChanges after. With `keepMax`, each listed row's max |trace[i][j]|
   * goes to traceRowMax[i] in the same pass.
   */
  traceAddRows(rows: Int32Array, count: number, slot: number, keepMax: boolean): void {
    if (count === 0) return;
    if (this.wasm !== null && this.wasm.trace !== null) {
      this.wasm.traceAddRows(rows, count, slot, keepMax);
      return;
    }
    const { cols, postVector } = this;
    const trace = this.trace as Float64Array;
    const q = this.traceColumns as Float64Array;
    const dq = this.traceRowChanges as Float64Array;
    const rowMax = this.traceRowMax as Float64Array;
    const c = this.ruleParams[slot];
    for (let k = 0; k < count; k++) {
      const i = rows[k];
      const base = i * cols;
      const d = dq[i];
      if (d === 0) for (let j = 0; j < cols; j++) trace[base + j] += postVector[j] * c;
      else for (let j = 0; j < cols; j++) trace[base + j] = trace[base + j] + postVector[j] * c - d * q[j];
      if (keepMax) rowMax[i] = maxAbs(trace, base, cols);
    }
  }

  /** max |trace[i][j]| over every row i into traceRowMax; the kernel `maxAbsRows` gives the same (a maximum is exact). */
  traceRowMaxAll(): void {
    if (this.wasm !== null && this.wasm.trace !== null) {
      this.wasm.maxAbsRows();
      return;
    }
    const trace = this.trace as Float64Array;
    const rowMax = this.traceRowMax as Float64Array;
    for (let i = 0; i < this.rows; i++) rowMax[i] = maxAbs(trace, i * this.cols, this.cols);
  }

  /**
   * trace[i][j] += preVector[i] * ruleParams[slot] for every row of the
   * listed columns j, a row at a time (the matrix in memory order): the post
   * spikes' columns added at once.
   */
  traceAddCols(colIdx: Int32Array, count: number, slot: number): void {
    if (count === 0) return;
    if (this.wasm !== null && this.wasm.trace !== null) {
      this.wasm.traceAddCols(colIdx, count, slot);
      return;
    }
    const { cols, rows, preVector } = this;
    const trace = this.trace as Float64Array;
    const c = this.ruleParams[slot];
    for (let i = 0; i < rows; i++) {
      const a = preVector[i] * c;
      const base = i * cols;
      for (let q = 0; q < count; q++) trace[base + colIdx[q]] += a;
    }
  }

  /**
   * Takes the pending columns into the trace: trace[i][j] = (trace[i][j] -
   * traceRowChanges[i] * traceColumns[j]) + traceRowFactors[i] *
   * traceColumns[j] (the subtraction left out where traceRowChanges[i] is 0).
   * The caller then clears traceColumns and traceRowChanges.
   */
  foldTraceColumns(): void {
    if (this.wasm !== null && this.wasm.trace !== null) {
      this.wasm.foldTraceColumns();
      return;
    }
    const { cols, rows } = this;
    const trace = this.trace as Float64Array;
    const q = this.traceColumns as Float64Array;
    const pr = this.traceRowFactors as Float64Array;
    const dq = this.traceRowChanges as Float64Array;
    for (let i = 0; i < rows; i++) {
      const base = i * cols;
      const d = dq[i];
      const p = pr[i];
      for (let j = 0; j < cols; j++) {
        let x = trace[base + j];
        if (d !== 0) x -= d * q[j];
        trace[base + j] = x + p * q[j];
      }
    }
  }

  /** downRow[j] = ruleParams[slot] * x[j], x one value per column (STDP's post traces). */
  scaledIntoDown(x: Float64Array, slot: number): void {
    if (this.wasm !== null) {
      this.wasm.scaledIntoDown(x, slot);
      return;
    }
    const { downRow } = this;
    const c = this.ruleParams[slot];
    for (let j = 0; j < downRow.length; j++) downRow[j] = c * x[j];
  }

  /** downRow[j] = -(ruleParams[slot] * postVector[j]). */
  negScaledPostIntoDown(slot: number): void {
    if (this.wasm !== null) {
      this.wasm.negScaledPostIntoDown(slot);
      return;
    }
    const { downRow, postVector } = this;
    const c = this.ruleParams[slot];
    for (let j = 0; j < downRow.length; j++) downRow[j] = -(c * postVector[j]);
  }

  /** perRow[i] = ruleParams[slot] * preVector[i]. */
  scaledPreIntoPerRow(slot: number): void {
    if (this.wasm !== null) {
      this.wasm.scaledPreIntoPerRow(slot);
      return;
    }
    const { perRow, preVector } = this;
    const c = this.ruleParams[slot];
    for (let i = 0; i < perRow.length; i++) perRow[i] = c * preVector[i];
  }

  /** preVector[i] = preVector[i] * ruleParams[slot] + ruleParams[slot + 1] * s[i], s[i] 1 at the `count` listed neurons (distinct), else 0. */
  decayAddPre(slot: number, spikes: Int32Array, count: number): void {
    if (this.wasm !== null) this.wasm.decayAddPre(slot, spikes, count);
    else decayAddList(this.preVector, spikes, count, this.ruleParams, slot);
  }

  /** postVector[j] = postVector[j] * ruleParams[slot] + ruleParams[slot + 1] * s[j], s[j] 1 at the `count` listed neurons (distinct), else 0. */
  decayAddPost(slot: number, spikes: Int32Array, count: number): void {
    if (this.wasm !== null) this.wasm.decayAddPost(slot, spikes, count);
    else decayAddList(this.postVector, spikes, count, this.ruleParams, slot);
  }

  /** Brings the listed rows up to date with the pending lazy columns, if any. */
  flushRows(rows: Int32Array, count: number): void {
    const lc = this.lazyColumns;
    if (lc === null || !lc.pending) return;
    this.updateParams();
    lc.flushRows(rows, count);
  }

  /**
   * Brings every row up to date with the pending lazy columns: before
   * anything reads or writes `stored` or `scale` as a whole, or changes
   * preVector outside an update.
   */
  flushAll(): void {
    this.lazyRewards?.flushAll();
    const lc = this.lazyColumns;
    if (lc === null || !lc.pending) return;
    this.updateParams();
    lc.flushAll();
  }

  /**
   * The lazy counterpart of scaledPreIntoPerRow(slot) then
   * applyCross(mask of skipRows, colIdx, colCount, true): records the
   * columns, to be applied per row. Between begin() and end(); the
   * skipRows must be up to date (flushRows) before this step's row update.
   */
  appendLazyColumns(colIdx: Int32Array, colCount: number, slot: number, skipRows: Int32Array, skipCount: number): void {
    const lc = this.lazyColumns;
    if (lc === null) throw new Error('no lazy columns on this connection');
    this.updateParams();
    lc.append(colIdx, colCount, this.ruleParams[slot], this.scale, 1 / this.nextScale, skipRows, skipCount);
  }

  /** [scale, factor, wMin, wMax, 1 / next scale] in kernelParams, for the update kernels. */
  private updateParams(): Float64Array {
    const p = this.kernelParams;
    p[0] = this.scale;
    p[1] = this.factor;
    p[2] = this.wMin;
    p[3] = this.wMax;
    p[4] = 1 / this.nextScale;
    return p;
  }

  /**
   * Synapses (i, cols[c]) for every row i with skipRow[i] = 0 and every listed
   * column: perRow[i] is their change, as potentiation when `split` is false,
   * or split by sign into potentiation and depression when it is true.
   * Iterates row-major so the matrix is read in memory order.
   */
  applyCross(skipRow: Uint8Array, colIdx: Int32Array, colCount: number, split: boolean): void {
    if (colCount === 0) return;
    if (this.wasm !== null && this.lazy && !this.soft) {
      this.updateParams();
      this.wasm.cross(skipRow, colIdx, colCount, split);
      return;
    }
    const { stored, scale, factor, lazy, soft, wMin, wMax, perRow, cols, rows } = this;
    const inv = 1 / this.nextScale;
    for (let i = 0; i < rows; i++) {
      const a = perRow[i];
      if (a === 0 || skipRow[i] === 1) continue;
      const up = split ? (a > 0 ? a : 0) : a;
      const down = split ? (a < 0 ? -a : 0) : 0;
      const base = i * cols;
      if (lazy && !soft) {
        // As in applyRow: the common case without loop-invariant branches.
        const delta = up - down;
        for (let c = 0; c < colCount; c++) {
          const k = base + colIdx[c];
          let wn = (stored[k] * scale + delta) * factor;
          wn = wn < wMin ? wMin : wn > wMax ? wMax : wn;
          stored[k] = wn * inv;
        }
        continue;
      }
      for (let c = 0; c < colCount; c++) {
        const k = base + colIdx[c];
        const w = stored[k] * scale;
        let wn = soft ? w + up * (wMax - w) - down * (w - wMin) : w + up - down;
        if (lazy) {
          wn *= factor;
          wn = wn < wMin ? wMin : wn > wMax ? wMax : wn;
          stored[k] = wn * inv;
        } else {
          stored[k] = wn;
        }
      }
    }
  }

  end(): void {
    if (this.lazy) {
      this.scale = this.nextScale;
      if (this.scale < DenseWeights.RENORMALISE_BELOW) this.normalise();
      return;
    }
    if (this.wasm !== null) {
      this.updateParams();
      this.wasm.decayAndClamp();
    } else {
      decayAndClamp(this.stored, this.decayParams);
    }
  }

  /** Folds the scale into the stored values. */
  normalise(): void {
    this.flushAll();
    if (this.scale === 1) return;
    const { stored, scale } = this;
    for (let k = 0; k < stored.length; k++) stored[k] *= scale;
    this.scale = 1;
    // A weight at a bound, times its scale, can land an ulp outside it (see toFlat).
    this.noteInBounds(false);
  }

  /**
   * Notes whether every stored value is within [wMin, wMax]. Every update
   * clamps what it writes, so only writers of the whole matrix change it;
   * the row kernels leave out what could not change a bit then
   * (weight-kernels.wat, $keepLevel).
   */
  private noteInBounds(yes: boolean): void {
    if (this.wasm !== null) this.wasm.inBounds = yes;
  }

  /**
   * Stored values and scale as a snapshot gives them (a restore), pausing
   * (yield) every so often; the values are then looked over for any outside
   * the bounds (a snapshot's are checked for their magnitude only).
   */
  *setStoredPausing(values: ArrayLike<number>, scale: number): Generator<void, void> {
    this.flushAll();
    yield* copyPausing(this.stored, values);
    this.scale = scale;
    const { stored, wMin, wMax } = this;
    for (let from = 0; from < stored.length; from += VALUES_PER_PAUSE) {
      const to = Math.min(stored.length, from + VALUES_PER_PAUSE);
      for (let k = from; k < to; k++) {
        if (!(stored[k] >= wMin && stored[k] <= wMax)) {
          this.noteInBounds(false);
          return;
        }
      }
      if (to < stored.length) yield;
    }
    this.noteInBounds(true);
  }

  /** Writes real weights (row-major), clamped into the bounds; resets the scale. */
  setFlat(w: ArrayLike<number>): void {
    const steps = this.setFlatPausing(w);
    while (!steps.next().done);
  }

  /** As setFlat, pausing (yield) every VALUES_PER_PAUSE weights; the caller uses the weights only once it ends. */
  *setFlatPausing(w: ArrayLike<number>): Generator<void, void> {
    this.flushAll();
    const { wMin, wMax, stored } = this;
    for (let from = 0; from < stored.length; from += VALUES_PER_PAUSE) {
      const to = Math.min(stored.length, from + VALUES_PER_PAUSE);
      for (let k = from; k < to; k++) stored[k] = Math.min(wMax, Math.max(wMin, w[k]));
      if (to < stored.length) yield;
    }
    this.scale = 1;
    this.noteInBounds(true);
  }

  /**
   * Real weights, row-major, into a new Float64Array. A weight clamped to a
   * bound is stored as bound / scale, and stored * scale can land an ulp
   * outside it (3 -> 3.0000000000000004), so reads clamp again: a user never
   * sees a weight outside [w_min, w_max]. Delivery skips this; an ulp there is
   * far below the 1e-4 the goldens allow.
   */
  toFlat(): Float64Array {
    const steps = this.toFlatPausing();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** As toFlat, pausing (yield) every VALUES_PER_PAUSE weights; the caller keeps the weights unchanged until it ends. */
  *toFlatPausing(): Generator<void, Float64Array> {
    const lr = this.lazyRewards;
    // Pending rewards are read without being applied: a network whose weights are read goes on with the same bits.
    if (lr !== null && lr.pending) {
      const out = new Float64Array(this.stored.length);
      const { cols, wMin, wMax } = this;
      const rowsPerPause = Math.max(1, Math.floor(VALUES_PER_PAUSE / Math.max(1, cols)));
      for (let i = 0; i < this.rows; i++) {
        lr.readRow(i, out, i * cols);
        if ((i + 1) % rowsPerPause === 0 && i + 1 < this.rows) yield;
      }
      for (let k = 0; k < out.length; k++) {
        const w = out[k];
        out[k] = w < wMin ? wMin : w > wMax ? wMax : w;
      }
      return out;
    }
    this.flushAll();
    const { stored, scale, wMin, wMax } = this;
    const out = new Float64Array(stored.length);
    for (let from = 0; from < out.length; from += VALUES_PER_PAUSE) {
      const to = Math.min(out.length, from + VALUES_PER_PAUSE);
      for (let k = from; k < to; k++) {
        const w = stored[k] * scale;
        out[k] = w < wMin ? wMin : w > wMax ? wMax : w;
      }
      if (to < out.length) yield;
    }
    return out;
  }
}

/**
 * The eager decay: every weight times `factor`, clamped. A free function over
 * a typed array, so it is optimised on its own from its first long run
 * rather than with whatever feedback the method around it had gathered. Its
 * doubles come in a Float64Array: a double argument to a call that is not
 * inlined is boxed, an allocation per call.
 */
function decayAndClamp(stored: Float64Array, params: Float64Array): void {
  const factor = params[0];
  const wMin = params[1];
  const wMax = params[2];
  for (let k = 0; k < stored.length; k++) {
    let w = stored[k] * factor;
    if (w < wMin) w = wMin;
    else if (w > wMax) w = wMax;
    stored[k] = w;
  }
}

/**
 * Delivery: out[j] += w[i][j] for every spiking i (params[0] is the lazy decay
 * scale). Four rows at a time, each out[j] loaded and stored once per four
 * rows; the additions into out[j] happen in the same order as one row at a
 * time, so the sums are the same bits.
 */
function deliverRows(stored: Float64Array, cols: number, spikeIdx: Int32Array, spikeCount: number, out: Float64Array, params: Float64Array): void {
  const scale = params[0];
  const n = cols & 0x3fffffff;
  let k = 0;
  for (; k + 3 < spikeCount; k += 4) {
    const r0 = Math.imul(spikeIdx[k], n);
    const r1 = Math.imul(spikeIdx[k + 1], n);
    const r2 = Math.imul(spikeIdx[k + 2], n);
    const r3 = Math.imul(spikeIdx[k + 3], n);
    for (let j = 0; j < n; j++) {
      let o = out[j];
      o += stored[(r0 + j) | 0] * scale;
      o += stored[(r1 + j) | 0] * scale;
      o += stored[(r2 + j) | 0] * scale;
      o += stored[(r3 + j) | 0] * scale;
      out[j] = o;
    }
  }
  for (; k < spikeCount; k++) {
    const r = Math.imul(spikeIdx[k], n);
    for (let j = 0; j < n; j++) out[j] += stored[(r + j) | 0] * scale;
  }
}

/** One row of DenseWeights.applyRowsNegated; params from updateParams. */
function rowHardLazy(stored: Float64Array, base: number, cols: number, m: Float64Array, params: Float64Array): void {
  const scale = params[0];
  const factor = params[1];
  const wMin = params[2];
  const wMax = params[3];
  const inv = params[4];
  const n = cols & 0x3fffffff;
  for (let j = 0; j < n; j++) {
    const d = m[j];
    if (d === 0) continue;
    const k = (base + j) | 0;
    let wn = (stored[k] * scale - d) * factor;
    wn = wn < wMin ? wMin : wn > wMax ? wMax : wn;
    stored[k] = wn * inv;
  }
}

/**
 * DenseWeights.takeTerms on the columns idx[0 .. count) of the row at base
 * (every column when idx is null); params from updateParams. With eager
 * decay end() decays and clamps, as in applyRow.
 */
function termsAt(
  stored: Float64Array,
  base: number,
  idx: Int32Array | null,
  count: number,
  upM: Float64Array,
  downM: Float64Array,
  ruleParams: Float64Array,
  slot: number,
  soft: boolean,
  lazy: boolean,
  params: Float64Array,
): void {
  const f = ruleParams[slot];
  const scale = params[0];
  const factor = params[1];
  const wMin = params[2];
  const wMax = params[3];
  const inv = params[4];
  for (let q = 0; q < count; q++) {
    const k = (base + (idx === null ? q : idx[q])) | 0;
    const up = upM[k] * f;
    const down = downM[k] * f;
    // Cleared whatever the products: a term can be non-zero and its product 0.
    upM[k] = 0;
    downM[k] = 0;
    if (up === 0 && down === 0) continue;
    const w = stored[k] * scale;
    let wn = soft ? w + up * (wMax - w) - down * (w - wMin) : w + up - down;
    if (lazy) {
      wn *= factor;
      wn = wn < wMin ? wMin : wn > wMax ? wMax : wn;
      wn *= inv;
    }
    stored[k] = wn;
  }
}

/** termsAt under hard bounds with lazy decay: the same operations, without the other cases' branches. */
function termsHardLazy(
  stored: Float64Array,
  base: number,
  idx: Int32Array | null,
  count: number,
  upM: Float64Array,
  downM: Float64Array,
  ruleParams: Float64Array,
  slot: number,
  params: Float64Array,
): void {
  const f = ruleParams[slot];
  const scale = params[0];
  const factor = params[1];
  const wMin = params[2];
  const wMax = params[3];
  const inv = params[4];
  const n = count & 0x3fffffff;
  for (let q = 0; q < n; q++) {
    const k = (base + (idx === null ? q : idx[q])) | 0;
    const u = upM[k];
    const d = downM[k];
    if (u === 0 && d === 0) {
      // Both zero: their products are too; only a -0 is left to clear.
      upM[k] = 0;
      downM[k] = 0;
      continue;
    }
    const up = u * f;
    const down = d * f;
    upM[k] = 0;
    downM[k] = 0;
    if (up === 0 && down === 0) continue;
    let wn = (stored[k] * scale + up - down) * factor;
    wn = wn < wMin ? wMin : wn > wMax ? wMax : wn;
    stored[k] = wn * inv;
  }
}

/** See DenseWeights.applyScaledTrace; params from updateParams. With eager decay end() decays and clamps, as in applyRow. */
function denseScaled(
  stored: Float64Array,
  m: Float64Array,
  pr: Float64Array,
  q: Float64Array,
  cols: number,
  ruleParams: Float64Array,
  slot: number,
  soft: boolean,
  lazy: boolean,
  params: Float64Array,
): void {
  const c = ruleParams[slot];
  const scale = params[0];
  const factor = params[1];
  const wMin = params[2];
  const wMax = params[3];
  const inv = params[4];
  const rows = pr.length;
  for (let i = 0; i < rows; i++) {
    const p = pr[i];
    const base = i * cols;
    for (let j = 0; j < cols; j++) {
      const k = base + j;
      const dw = c * (m[k] + p * q[j]);
      if (dw === 0) continue;
      const w = stored[k] * scale;
      let wn = soft ? (dw > 0 ? w + dw * (wMax - w) : w + dw * (w - wMin)) : w + dw;
      if (lazy) {
        wn *= factor;
        wn = wn < wMin ? wMin : wn > wMax ? wMax : wn;
        wn *= inv;
      }
      stored[k] = wn;
    }
  }
}

/**
 * DenseWeights.decayAddPre/Post: p * d + a * 0 everywhere, then + a at the
 * listed entries, which is p * d + a there to the bit (adding a zero changes
 * only a zero's sign, a non-zero a then decides the sum, and a zero a is
 * a * 0 itself, added twice). The doubles stay in `params` (see decayAndClamp).
 */
function decayAddList(p: Float64Array, spikes: Int32Array, count: number, params: Float64Array, slot: number): void {
  const decay = params[slot];
  const a = params[slot + 1];
  const z = a * 0;
  for (let i = 0; i < p.length; i++) p[i] = p[i] * decay + z;
  for (let k = 0; k < count; k++) p[spikes[k]] += a;
}

/** max |m[k]| over the n values from `at`, from 0 up: a row's bound for MSTDPET's lazy rewards. */
function maxAbs(m: Float64Array, at: number, n: number): number {
  let mx = 0;
  for (let k = at, end = at + n; k < end; k++) {
    const a = Math.abs(m[k]);
    if (a > mx) mx = a;
  }
  return mx;
}
