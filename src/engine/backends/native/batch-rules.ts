/**
 * The learning rules of model.md for a batch (model.md, "Batches"): every
 * copy computes its own potentiation and depression from its own spikes,
 * traces, rule state and reward; the terms are summed over the copies into
 * one pair of matrices (BatchTerms), scaled by 1 / B for `reduction: mean`,
 * and applied once to the shared weights. As in rules.ts, a copy's terms
 * touch only the rows and columns of its spikes (MSTDPET's, with a reward,
 * every synapse), and only the synapses touched are visited.
 */
import type { AnyRuleState, ExportedRuleState } from '../kernel.js';
import type { SpikingCopy } from './population-copies.js';
import type { RuleParts } from './rules.js';
import { ScaledTrace } from './scaled-trace.js';
import { DenseWeights } from './weights.js';

type BatchRuleParts = RuleParts<readonly SpikingCopy[]>;

/** Slots of DenseWeights.ruleParams used here. */
const REDUCTION = 0;
/** MSTDP's p_plus decay, followed by a_plus (as WasmBatch.decayP reads them). */
const PLUS_DECAY = 1;
/** p_minus decay, followed by a_minus. */
const MINUS_DECAY = 3;

/** Potentiation and depression summed over the copies, with the rows and columns they touch. */
export class BatchTerms {
  readonly up: Float64Array;
  readonly down: Float64Array;
  private readonly rowMask: Uint8Array;
  private readonly rowList: Int32Array;
  private readonly colMask: Uint8Array;
  private readonly colList: Int32Array;
  /** [rows listed, columns listed]: in memory, so that a kernel (WasmBatch.mstdpTerms) can list them too. */
  private readonly counts: Int32Array;
  /** Every synapse touched (MSTDPET with a reward). */
  private all = false;

  /**
   * In w's WebAssembly memory where it has room for them (DenseWeights.termsUp),
   * so that apply() runs as a kernel, and with the lists there too where it
   * holds the batch's state (DenseWeights.batch).
   */
  constructor(w: DenseWeights) {
    const { rows, cols } = w;
    this.up = w.termsUp ?? new Float64Array(rows * cols);
    this.down = w.termsDown ?? new Float64Array(rows * cols);
    const b = w.batch;
    this.rowMask = b?.rowMask ?? new Uint8Array(rows);
    this.rowList = b?.rowList ?? new Int32Array(rows);
    this.colMask = b?.colMask ?? new Uint8Array(cols);
    this.colList = b?.colList ?? new Int32Array(cols);
    this.counts = b?.counts ?? new Int32Array(2);
  }

  touchRow(i: number): void {
    if (this.rowMask[i] === 1) return;
    this.rowMask[i] = 1;
    this.rowList[this.counts[0]++] = i;
  }

  touchCol(j: number): void {
    if (this.colMask[j] === 1) return;
    this.colMask[j] = 1;
    this.colList[this.counts[1]++] = j;
  }

  touchAll(): void {
    this.all = true;
  }

  /** Adds dw to synapse k as potentiation or depression by its sign. */
  addSigned(k: number, dw: number): void {
    if (dw > 0) this.up[k] += dw;
    else if (dw < 0) this.down[k] -= dw;
  }

  /**
   * Applies the reduced terms to w (model.md's update, steps 1-3, once) and
   * clears them; every other synapse only decays. `w.ruleParams[REDUCTION]`
   * is the reduction's factor.
   */
  apply(w: DenseWeights): void {
    w.begin();
    const { rowMask, rowList, colMask, colList, counts } = this;
    const rowCount = counts[0];
    const colCount = counts[1];
    if (this.all) w.takeTerms(null, 0, rowMask, colList, 0, this.up, this.down, REDUCTION);
    else if (rowCount > 0 || colCount > 0) w.takeTerms(rowList, rowCount, rowMask, colList, colCount, this.up, this.down, REDUCTION);
    w.end();
    this.all = false;
    for (let q = 0; q < rowCount; q++) rowMask[rowList[q]] = 0;
    for (let q = 0; q < colCount; q++) colMask[colList[q]] = 0;
    counts[0] = 0;
    counts[1] = 0;
  }
}

export interface BatchRule {
  /** Adds every copy's terms (rewards[b] is copy b's reward) and applies them; then advances the rule's state. */
  update(rewards: Float64Array): void;
  reset(): void;
  /** The state of every copy, copy-major (copy b's p_plus at b * pre.n, e_pre as indices into B * pre.n, ...). */
  /** MSTDPET's trace as the rule's own values (exportState copies them). */
  getState(): ExportedRuleState;
  setState(state: AnyRuleState): void;
  eligibility(copy: number): Float64Array | null;
  eligibilityTrace(copy: number): Float64Array | null;
}

/** The shared part: the weights, the terms, the reduction factor in ruleParams. */
abstract class BatchRuleBase implements BatchRule {
  protected readonly pre: readonly SpikingCopy[];
  protected readonly post: readonly SpikingCopy[];
  protected readonly w: DenseWeights;
  protected readonly terms: BatchTerms;
  protected readonly copies: number;

  constructor({ pre, post, w, rule }: BatchRuleParts) {
    this.pre = pre;
    this.post = post;
    this.w = w;
    this.copies = pre.length;
    this.terms = new BatchTerms(w);
    w.ruleParams[REDUCTION] = rule.reduction === 'mean' ? 1 / this.copies : 1;
  }

  abstract update(rewards: Float64Array): void;
  reset(): void {}
  getState(): ExportedRuleState {
    return {};
  }
  setState(_state: AnyRuleState): void {}
  eligibility(_copy: number): Float64Array | null {
    return null;
  }
  eligibilityTrace(_copy: number): Float64Array | null {
    return null;
  }
}

export class BatchNoOpRule extends BatchRuleBase {
  update(): void {
    if (!this.w.decays) return;
    this.terms.apply(this.w);
  }
}

/** Pair-based STDP (BindsNET PostPre), per copy. */
export class BatchStdpRule extends BatchRuleBase {
  private readonly lrPre: number;
  private readonly lrPost: number;

  constructor(parts: BatchRuleParts) {
    super(parts);
    [this.lrPre, this.lrPost] = parts.rule.lr;
  }

  update(): void {
    const { terms, lrPre, lrPost } = this;
    const { up, down } = terms;
    const cols = this.w.cols;
    const rows = this.w.rows;
    for (let b = 0; b < this.copies; b++) {
      const pre = this.pre[b];
      const post = this.post[b];
      // down = lr[0] * outer(s_pre, traces_post): the rows of the pre spikes.
      if (pre.spikeCount > 0) {
        post.catchUp();
        const tPost = post.traces;
        for (let k = 0; k < pre.spikeCount; k++) {
          const i = pre.spikeIdx[k];
          const base = i * cols;
          for (let j = 0; j < cols; j++) down[base + j] += lrPre * tPost[j];
          terms.touchRow(i);
        }
      }
      // up = lr[1] * outer(traces_pre, s_post): the columns of the post spikes.
      if (post.spikeCount > 0) {
        pre.catchUp();
        const tPre = pre.traces;
        for (let q = 0; q < post.spikeCount; q++) {
          const j = post.spikeIdx[q];
          for (let i = 0; i < rows; i++) up[i * cols + j] += lrPost * tPre[i];
          terms.touchCol(j);
        }
      }
    }
    terms.apply(this.w);
  }
}

/**
 * MSTDP (and, with a trace, MSTDPET) per copy. Copy b's eligibility is kept
 * as in rules.ts, by the spikes it was built from and p_plus / p_minus.
 * Where the connection's memory holds the batch's state (DenseWeights.batch)
 * these arrays are in it, and the update from every copy's terms (under
 * hard bounds with lazy decay) and the p vectors' decay run as one kernel
 * call each.
 */
export class BatchMstdpRule extends BatchRuleBase {
  protected readonly lr0: number;
  private readonly plusDecay: number;
  private readonly minusDecay: number;
  private readonly aPlus: number;
  private readonly aMinus: number;
  /** Copy-major: copy b's p_plus at b * rows, p_minus at b * cols. */
  protected readonly pPlus: Float64Array;
  protected readonly pMinus: Float64Array;
  /** Copy-major masks and lists of the spikes each copy's eligibility was built from. */
  protected readonly ePreMask: Uint8Array;
  protected readonly ePreIdx: Int32Array;
  protected readonly ePreCount: Int32Array;
  protected readonly ePostMask: Uint8Array;
  protected readonly ePostIdx: Int32Array;
  protected readonly ePostCount: Int32Array;
  /** MSTDPET's trace (BatchMstdpetRule), reset, saved and restored with the rest of the state. */
  protected trace: ScaledTrace | null = null;

  constructor(parts: BatchRuleParts) {
    super(parts);
    const { w, rule, dt } = parts;
    this.lr0 = rule.lr[0];
    this.plusDecay = Math.exp(-dt / (rule.tc_plus as number));
    this.minusDecay = Math.exp(-dt / (rule.tc_minus as number));
    this.aPlus = rule.a_plus as number;
    this.aMinus = rule.a_minus as number;
    const p = w.ruleParams;
    p[PLUS_DECAY] = this.plusDecay;
    p[PLUS_DECAY + 1] = this.aPlus;
    p[MINUS_DECAY] = this.minusDecay;
    p[MINUS_DECAY + 1] = this.aMinus;
    const B = this.copies;
    const wb = w.batch;
    this.pPlus = wb?.pPlus ?? new Float64Array(B * w.rows);
    this.pMinus = wb?.pMinus ?? new Float64Array(B * w.cols);
    this.ePreMask = wb?.ePreMask ?? new Uint8Array(B * w.rows);
    this.ePreIdx = wb?.ePreIdx ?? new Int32Array(B * w.rows);
    this.ePreCount = wb?.ePreCount ?? new Int32Array(B);
    this.ePostMask = wb?.ePostMask ?? new Uint8Array(B * w.cols);
    this.ePostIdx = wb?.ePostIdx ?? new Int32Array(B * w.cols);
    this.ePostCount = wb?.ePostCount ?? new Int32Array(B);
  }

  update(rewards: Float64Array): void {
    const { w } = this;
    const wb = w.batch;
    if (wb !== null && w.hardLazy) {
      // One kernel call: each synapse's terms summed where it is updated, without the matrices.
      const c = wb.c;
      for (let b = 0; b < this.copies; b++) c[b] = this.lr0 * rewards[b];
      w.begin();
      w.applyBatchMstdp(REDUCTION);
      w.end();
    } else {
      this.addTerms(rewards);
      this.terms.apply(w);
    }
    this.advance();
  }

  /** MSTDP's step 1 for every copy: dw = lr[0] * r_b * e_b, split by sign per copy. */
  protected addTerms(rewards: Float64Array): void {
    const { terms, pPlus, pMinus, ePreMask, ePreIdx, ePostMask, ePostIdx } = this;
    const { up, down } = terms;
    const rows = this.w.rows;
    const cols = this.w.cols;
    for (let b = 0; b < this.copies; b++) {
      const c = this.lr0 * rewards[b];
      if (c === 0) continue;
      const pp = b * rows;
      const pm = b * cols;
      // Rows of the pre spikes: e[i][j] = p_minus[j] + p_plus[i] where post j spiked.
      for (let q = 0; q < this.ePreCount[b]; q++) {
        const i = ePreIdx[pp + q];
        const base = i * cols;
        const pi = pPlus[pp + i];
        for (let j = 0; j < cols; j++) {
          const e = ePostMask[pm + j] === 1 ? pi + pMinus[pm + j] : pMinus[pm + j];
          const dw = c * e;
          if (dw > 0) up[base + j] += dw;
          else if (dw < 0) down[base + j] -= dw;
        }
        terms.touchRow(i);
      }
      // Columns of the post spikes, on the other rows: e[i][j] = p_plus[i].
      for (let q = 0; q < this.ePostCount[b]; q++) {
        const j = ePostIdx[pm + q];
        for (let i = 0; i < rows; i++) {
          if (ePreMask[pp + i] === 1) continue;
          const dw = c * pPlus[pp + i];
          if (dw > 0) up[i * cols + j] += dw;
          else if (dw < 0) down[i * cols + j] -= dw;
        }
        terms.touchCol(j);
      }
    }
  }

  /** Steps 2-4 for every copy: e from this step's spikes, then p_plus and p_minus, which take the same spikes (the masks e is built from). */
  protected advance(): void {
    for (let b = 0; b < this.copies; b++) {
      const pre = this.pre[b];
      const post = this.post[b];
      this.setSpikes(b, pre.spikeIdx, pre.spikeCount, post.spikeIdx, post.spikeCount);
    }
    const wb = this.w.batch;
    if (wb !== null) {
      wb.decayP(PLUS_DECAY, MINUS_DECAY);
      return;
    }
    // Every copy's p vectors in one pass each, with the copies' spike masks side by side.
    const { pPlus, pMinus, plusDecay, minusDecay, aPlus, aMinus, ePreMask, ePostMask } = this;
    for (let k = 0; k < pPlus.length; k++) pPlus[k] = pPlus[k] * plusDecay + aPlus * ePreMask[k];
    for (let k = 0; k < pMinus.length; k++) pMinus[k] = pMinus[k] * minusDecay + aMinus * ePostMask[k];
  }

  private setSpikes(b: number, preIdx: ArrayLike<number>, preCount: number, postIdx: ArrayLike<number>, postCount: number): void {
    const rows = this.w.rows;
    const cols = this.w.cols;
    const pp = b * rows;
    const pm = b * cols;
    const { ePreMask, ePreIdx, ePostMask, ePostIdx } = this;
    for (let k = 0; k < this.ePreCount[b]; k++) ePreMask[pp + ePreIdx[pp + k]] = 0;
    for (let k = 0; k < this.ePostCount[b]; k++) ePostMask[pm + ePostIdx[pm + k]] = 0;
    for (let k = 0; k < preCount; k++) {
      ePreIdx[pp + k] = preIdx[k];
      ePreMask[pp + preIdx[k]] = 1;
    }
    for (let k = 0; k < postCount; k++) {
      ePostIdx[pm + k] = postIdx[k];
      ePostMask[pm + postIdx[k]] = 1;
    }
    this.ePreCount[b] = preCount;
    this.ePostCount[b] = postCount;
  }

  override reset(): void {
    this.pPlus.fill(0);
    this.pMinus.fill(0);
    for (let b = 0; b < this.copies; b++) this.setSpikes(b, [], 0, [], 0);
    this.trace?.reset();
  }

  override getState(): ExportedRuleState {
    const rows = this.w.rows;
    const cols = this.w.cols;
    const ePre: number[] = [];
    const ePost: number[] = [];
    for (let b = 0; b < this.copies; b++) {
      for (let k = 0; k < this.ePreCount[b]; k++) ePre.push(b * rows + this.ePreIdx[b * rows + k]);
      for (let k = 0; k < this.ePostCount[b]; k++) ePost.push(b * cols + this.ePostIdx[b * cols + k]);
    }
    return { p_plus: Array.from(this.pPlus), p_minus: Array.from(this.pMinus), e_pre: ePre, e_post: ePost, ...this.trace?.state() };
  }

  override setState(state: AnyRuleState): void {
    const rows = this.w.rows;
    const cols = this.w.cols;
    this.pPlus.set(state.p_plus ?? []);
    this.pMinus.set(state.p_minus ?? []);
    for (let b = 0; b < this.copies; b++) {
      const pre = (state.e_pre ?? []).filter((x) => Math.floor(x / rows) === b).map((x) => x - b * rows);
      const post = (state.e_post ?? []).filter((x) => Math.floor(x / cols) === b).map((x) => x - b * cols);
      this.setSpikes(b, pre, pre.length, post, post.length);
    }
    this.trace?.restore(state);
  }

  override eligibility(copy: number): Float64Array {
    const rows = this.w.rows;
    const cols = this.w.cols;
    const out = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        out[i * cols + j] = this.pPlus[copy * rows + i] * this.ePostMask[copy * cols + j] + this.ePreMask[copy * rows + i] * this.pMinus[copy * cols + j];
      }
    }
    return out;
  }
}

/**
 * MSTDPET per copy: each copy's trace et_b, all kept as stored values times
 * one scale (every copy's trace decays by the same factor), as in rules.ts.
 */
export class BatchMstdpetRule extends BatchMstdpRule {
  private readonly et: ScaledTrace;

  constructor(parts: BatchRuleParts) {
    super(parts);
    this.trace = this.et = new ScaledTrace(new Float64Array(this.copies * parts.w.rows * parts.w.cols), parts.rule, parts.dt);
  }

  override update(rewards: Float64Array): void {
    this.traceEligibility();
    const { terms, et } = this;
    const etStored = et.stored;
    const n = this.w.rows * this.w.cols;
    for (let b = 0; b < this.copies; b++) {
      const c = et.lrDt * rewards[b] * et.scale;
      if (c === 0) continue;
      const at = b * n;
      for (let k = 0; k < n; k++) terms.addSigned(k, c * etStored[at + k]);
      terms.touchAll();
    }
    terms.apply(this.w);
    this.advance();
  }

  /** et_b = et_b * decay + e_b / tc_e_trace for every copy. */
  private traceEligibility(): void {
    const { et, pPlus, pMinus, ePreIdx, ePostIdx } = this;
    const etStored = et.stored;
    et.decayStep();
    const rows = this.w.rows;
    const cols = this.w.cols;
    const f = et.invTc / et.scale;
    for (let b = 0; b < this.copies; b++) {
      const at = b * rows * cols;
      const pp = b * rows;
      const pm = b * cols;
      for (let q = 0; q < this.ePreCount[b]; q++) {
        const base = at + ePreIdx[pp + q] * cols;
        for (let j = 0; j < cols; j++) etStored[base + j] += pMinus[pm + j] * f;
      }
      for (let q = 0; q < this.ePostCount[b]; q++) {
        const j = ePostIdx[pm + q];
        for (let i = 0; i < rows; i++) etStored[at + i * cols + j] += pPlus[pp + i] * f;
      }
    }
  }

  override eligibilityTrace(copy: number): Float64Array {
    const n = this.w.rows * this.w.cols;
    return this.et.values(copy * n, n);
  }
}
