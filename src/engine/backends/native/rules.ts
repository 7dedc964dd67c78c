/**
 * The learning rules of model.md on the native kernels. Each update visits
 * only the synapses its terms can make non-zero: STDP the rows of pre neurons
 * that spiked and the columns of post neurons that spiked; MSTDP the rows and
 * columns of the spikes its eligibility was built from. Every other synapse
 * only decays, which DenseWeights does without touching it.
 */
import type { ResolvedRule } from '../../spec-schema.js';
import { WeightsOnlyRule, type AnyRuleState, type ExportedRuleState } from '../kernel.js';
import type { LazyRewards } from './lazy-rewards.js';
import type { LifPopulation } from './population.js';
import { ScaledTrace } from './scaled-trace.js';
import { TraceColumns } from './trace-columns.js';
import { DenseWeights } from './weights.js';

export interface NativeRule {
  update(reward: number): void;
  reset(): void;
  /** MSTDPET's trace as the rule's own values (exportState copies them). */
  getState(): ExportedRuleState;
  setState(state: AnyRuleState): void;
  /** The eligibility as a dense [pre.n][post.n] matrix, or null for rules without one. */
  eligibility(): number[][] | null;
  /** MSTDPET's eligibility trace, row-major, or null for other rules. */
  eligibilityTrace(): Float64Array | null;
}

/** What a rule is built from: its connection's populations (`P`: one copy, or a batch's copies), weights and rule, and the time step. */
export interface RuleParts<P> {
  pre: P;
  post: P;
  w: DenseWeights;
  rule: ResolvedRule;
  dt: number;
}

/** A rule whose only state is the weights: nothing to reset or save. */
abstract class StatelessRule extends WeightsOnlyRule implements NativeRule {
  abstract update(reward: number): void;
  eligibilityTrace(): null {
    return null;
  }
}

export class NoOpRule extends StatelessRule {
  private readonly w: DenseWeights;

  constructor({ w }: RuleParts<LifPopulation>) {
    super();
    this.w = w;
  }

  update(): void {
    if (!this.w.decays) return;
    this.w.begin();
    this.w.end();
  }
}

/** STDP's slots in DenseWeights.ruleParams: lr[1], for catchUpScaledTraces and the lazy columns; lr[0], for scaledIntoDown. */
const LR_POST = 0;
const LR_PRE = 1;

/**
 * Pair-based STDP with nearest traces (BindsNET PostPre). Its columns (the
 * post spikes' potentiation) may be applied lazily, row by row
 * (lazy-columns.ts), as MSTDP's are: the entries scale the pre traces, which
 * between two spikes of a pre neuron only decay, x * d, the population
 * step's multiplication.
 */
export class StdpRule extends StatelessRule {
  private readonly pre: LifPopulation;
  private readonly post: LifPopulation;
  private readonly w: DenseWeights;
  private readonly lrPre: number;
  private readonly lrPost: number;

  constructor({ pre, post, w, rule }: RuleParts<LifPopulation>) {
    super();
    this.pre = pre;
    this.post = post;
    this.w = w;
    [this.lrPre, this.lrPost] = rule.lr;
    w.ruleParams[LR_POST] = this.lrPost;
    w.ruleParams[LR_PRE] = this.lrPre;
    w.lazyColumns?.setSource(pre.traces, pre.traceDecay);
  }

  update(): void {
    const { pre, post, w, lrPre, lrPost } = this;
    const lazy = w.lazyColumns;
    w.begin();
    if (lrPre !== 0 || lrPost !== 0) {
      // Every post trace is read when a pre neuron spiked, every pre trace when a post neuron did.
      if (pre.spikeCount > 0) post.catchUp();
      const columns = lrPost !== 0 && post.spikeCount > 0;
      if (lazy !== null) {
        // The rows read and written below take their pending columns first
        // (delivery has usually done it); a list that starts with this
        // step's entry reads every pre trace.
        w.flushRows(pre.spikeIdx, pre.spikeCount);
        if (post.spikeCount > 0) pre.catchUp();
      } else if (columns) {
        // With potentiation the pre traces go into perRow, for the columns
        // below, as they are caught up: one pass over the pre neurons, not two.
        pre.catchUpScaledTraces(w.perRow, w.ruleParams, LR_POST);
      } else if (post.spikeCount > 0) pre.catchUp();
      const upRow = w.upRow;
      const tPre = pre.traces;
      const tPost = post.traces;
      // Depression on the rows of spiking pre neurons (every column with a post
      // trace), potentiation where the post neuron spiked too. downRow is the
      // same for every row; upRow is zero but at the spiking post neurons, so
      // each row patches only those.
      const postIdx = post.spikeIdx;
      const postCount = post.spikeCount;
      const preCount = pre.spikeCount;
      if (preCount > 0) w.scaledIntoDown(tPost, LR_PRE);
      if (w.hardLazy && postCount === 0) {
        // Without post spikes every row gets the same depression: one batch.
        w.applyRowsNegated(pre.spikeIdx, preCount);
      } else if (w.hardLazy) {
        // Each row's potentiation by row (perRow), all rows in one call.
        const perRow = w.perRow;
        for (let k = 0; k < preCount; k++) perRow[pre.spikeIdx[k]] = lrPost * tPre[pre.spikeIdx[k]];
        w.applyStdpRows(pre.spikeIdx, preCount, postIdx, postCount);
      } else {
        for (let k = 0; k < preCount; k++) {
          const i = pre.spikeIdx[k];
          const upHere = lrPost * tPre[i];
          for (let q = 0; q < postCount; q++) upRow[postIdx[q]] = upHere;
          w.applyRow(i);
          for (let q = 0; q < postCount; q++) upRow[postIdx[q]] = 0;
        }
      }
      // Potentiation on the columns of spiking post neurons, rows not done above.
      if (columns) {
        if (lazy !== null) w.appendLazyColumns(post.spikeIdx, post.spikeCount, LR_POST, pre.spikeIdx, pre.spikeCount);
        else w.applyCross(pre.s, post.spikeIdx, post.spikeCount, false);
      }
    }
    w.end();
    if (lazy !== null) lazy.afterStep(pre.spikeIdx, pre.spikeCount);
  }

  /** The weights stay; pending columns are applied with the traces they were recorded with, before those are reset. */
  override reset(): void {
    this.w.flushAll();
  }
}

/**
 * Reward-modulated STDP (Florian 2007, BindsNET MSTDP). The eligibility
 * e = outer(p_plus, s_post) + outer(s_pre, p_minus) is never stored densely:
 * it is non-zero only on the rows and columns of the spikes it was built from,
 * and p_plus / p_minus do not change between building it and using it (the
 * next update uses e before it decays p), so the spike lists and the p vectors
 * are the whole of it.
 */
// MSTDP's slots in DenseWeights.ruleParams.
const C = 0;
/** Followed by a_plus, as decayAddPre reads it. */
const PLUS_DECAY = 1;
/** Followed by a_minus. */
const MINUS_DECAY = 3;
/** MSTDPET's lr[0] * dt * r times the trace's scale, for applyScaledTrace. */
const ET_C = 5;
/** MSTDPET's 1 / tc_e_trace over the trace's scale, for traceAddRows, traceAddCols and TraceColumns. */
const ET_K = 6;
/**
 * MSTDPET's post spikes' columns are kept pending (trace-columns.ts) once
 * this many steps have passed without a reward, now or between the last two
 * rewards; with rewards more often they are added at once, as a rewarded
 * update that reads pending columns costs about as much more as the
 * columns of that many steps (docs/benchmarks.md).
 */
const PENDING_AFTER_QUIET = 8;
/**
 * MSTDPET's rewards are applied row by row (lazy-rewards.ts) on a rewarded
 * step that comes fewer than this many steps after the previous one; a rarer
 * reward updates every weight at once. Bringing rows up to date costs about
 * a dense update every few dozen steps (docs/benchmarks.md).
 */
const LAZY_BELOW_QUIET = 32;

export class MstdpRule implements NativeRule {
  protected readonly pre: LifPopulation;
  protected readonly post: LifPopulation;
  protected readonly w: DenseWeights;
  /** MSTDPET's trace (MstdpetRule), reset, saved and restored with the rest of the state. */
  protected trace: ScaledTrace | null = null;
  protected readonly lr0: number;
  /** p_plus and p_minus live in the weights' vectors, next to the matrix (see DenseWeights.preVector). */
  readonly pPlus: Float64Array;
  readonly pMinus: Float64Array;
  /** The eligibility's spikes as lists; as a mask of the pre neurons only where a kernel reads one (applyCross). */
  protected readonly ePreIdx: Int32Array;
  protected ePreCount = 0;
  private readonly ePreMask: Uint8Array;
  protected readonly ePostIdx: Int32Array;
  protected ePostCount = 0;

  constructor({ pre, post, w, rule, dt }: RuleParts<LifPopulation>) {
    this.pre = pre;
    this.post = post;
    this.w = w;
    this.lr0 = rule.lr[0];
    const p = w.ruleParams;
    p[PLUS_DECAY] = Math.exp(-dt / (rule.tc_plus as number));
    p[PLUS_DECAY + 1] = rule.a_plus as number;
    p[MINUS_DECAY] = Math.exp(-dt / (rule.tc_minus as number));
    p[MINUS_DECAY + 1] = rule.a_minus as number;
    this.pPlus = w.preVector;
    this.pMinus = w.postVector;
    w.lazyColumns?.setSource(w.preVector, p[PLUS_DECAY]);
    this.ePreMask = new Uint8Array(pre.n);
    this.ePreIdx = new Int32Array(pre.n);
    this.ePostIdx = new Int32Array(post.n);
  }

  update(reward: number): void {
    const { w, pPlus, pMinus, ePreMask, ePreIdx, ePostIdx } = this;
    w.begin();
    // 1. dw = lr0 * r * e, with the eligibility left by the previous update;
    // its sign decides potentiation or depression.
    const c = this.lr0 * reward;
    w.ruleParams[C] = c;
    if (c !== 0) {
      const { upRow, downRow } = w;
      // Rows of the pre spikes: dw[j] = c * (p_minus[j] + (p_plus[i] where post j spiked)).
      // The p_minus part is the same for every row; each row patches the
      // columns of the post spikes.
      if (w.hardLazy) {
        // One array, -dw (see DenseWeights.applyRowsNegated); downRow is its scratch.
        if (this.ePreCount > 0) {
          // These rows are read and written here: they take their pending lazy columns first.
          w.flushRows(ePreIdx, this.ePreCount);
          w.negScaledPostIntoDown(C);
          w.applyRowsNegatedCross(ePreIdx, this.ePreCount, ePostIdx, this.ePostCount, C);
        }
      } else {
        for (let j = 0; j < w.cols; j++) {
          const dw = c * pMinus[j];
          upRow[j] = dw > 0 ? dw : 0;
          downRow[j] = dw < 0 ? -dw : 0;
        }
        for (let k = 0; k < this.ePreCount; k++) {
          const i = ePreIdx[k];
          for (let q = 0; q < this.ePostCount; q++) {
            const j = ePostIdx[q];
            const dw = c * (pPlus[i] + pMinus[j]);
            upRow[j] = dw > 0 ? dw : 0;
            downRow[j] = dw < 0 ? -dw : 0;
          }
          w.applyRow(i);
          for (let q = 0; q < this.ePostCount; q++) {
            const j = ePostIdx[q];
            const dw = c * pMinus[j];
            upRow[j] = dw > 0 ? dw : 0;
            downRow[j] = dw < 0 ? -dw : 0;
          }
        }
      }
      if (this.ePostCount > 0) {
        if (w.lazyColumns !== null) {
          w.appendLazyColumns(ePostIdx, this.ePostCount, C, ePreIdx, this.ePreCount);
        } else {
          w.scaledPreIntoPerRow(C);
          for (let k = 0; k < this.ePreCount; k++) ePreMask[ePreIdx[k]] = 1;
          w.applyCross(ePreMask, ePostIdx, this.ePostCount, true);
          for (let k = 0; k < this.ePreCount; k++) ePreMask[ePreIdx[k]] = 0;
        }
      }
    }
    w.end();
    this.advance();
  }

  /**
   * Steps 2-4: decay the synaptic traces, add this step's spikes, and build
   * e from them. The rows of spiking pre neurons take their pending columns
   * with the p_plus those used.
   */
  protected advance(): void {
    const { w, pre, post } = this;
    const lazy = w.lazyColumns;
    if (lazy !== null) {
      w.flushRows(pre.spikeIdx, pre.spikeCount);
    }
    w.decayAddPre(PLUS_DECAY, pre.spikeIdx, pre.spikeCount);
    w.decayAddPost(MINUS_DECAY, post.spikeIdx, post.spikeCount);
    if (lazy !== null) lazy.afterPreSpikes(pre.spikeIdx, pre.spikeCount);
    // 4. e is now built from this step's spikes.
    this.setEligibilitySpikes(pre.spikeIdx, pre.spikeCount, post.spikeIdx, post.spikeCount);
  }

  private setEligibilitySpikes(preIdx: ArrayLike<number>, preCount: number, postIdx: ArrayLike<number>, postCount: number): void {
    const { ePreIdx, ePostIdx } = this;
    for (let k = 0; k < preCount; k++) ePreIdx[k] = preIdx[k];
    for (let k = 0; k < postCount; k++) ePostIdx[k] = postIdx[k];
    this.ePreCount = preCount;
    this.ePostCount = postCount;
  }

  reset(): void {
    this.w.flushAll();
    this.pPlus.fill(0);
    this.pMinus.fill(0);
    this.setEligibilitySpikes([], 0, [], 0);
    this.trace?.reset();
  }

  getState(): ExportedRuleState {
    return {
      p_plus: Array.from(this.pPlus),
      p_minus: Array.from(this.pMinus),
      e_pre: Array.from(this.ePreIdx.subarray(0, this.ePreCount)),
      e_post: Array.from(this.ePostIdx.subarray(0, this.ePostCount)),
      ...this.trace?.state(),
    };
  }

  setState(state: AnyRuleState): void {
    this.w.flushAll();
    this.pPlus.set(state.p_plus ?? []);
    this.pMinus.set(state.p_minus ?? []);
    const ePre = state.e_pre ?? [];
    const ePost = state.e_post ?? [];
    this.setEligibilitySpikes(ePre, ePre.length, ePost, ePost.length);
    this.trace?.restore(state);
  }

  eligibilityTrace(): Float64Array | null {
    return null;
  }

  eligibility(): number[][] {
    const preMask = new Uint8Array(this.pre.n);
    const postMask = new Uint8Array(this.post.n);
    for (let k = 0; k < this.ePreCount; k++) preMask[this.ePreIdx[k]] = 1;
    for (let k = 0; k < this.ePostCount; k++) postMask[this.ePostIdx[k]] = 1;
    const out: number[][] = [];
    for (let i = 0; i < this.pre.n; i++) {
      const row = new Array<number>(this.post.n);
      for (let j = 0; j < this.post.n; j++) {
        row[j] = this.pPlus[i] * postMask[j] + preMask[i] * this.pMinus[j];
      }
      out.push(row);
    }
    return out;
  }
}

/**
 * MSTDP with an eligibility trace (Florian 2007, BindsNET MSTDPET):
 * et = et * exp(-dt / tc_e_trace) + e / tc_e_trace, then dw = lr[0] * dt * r * et.
 *
 * et is dense (every synapse whose neurons spiked within a few time
 * constants), but between rewards it only decays and takes e on the rows and
 * columns of the spikes e was built from. So it is kept as stored * etScale,
 * as the weights keep their decay: the decay is one multiplication, adding e
 * touches the rows of the pre spikes, the columns of the post spikes are kept
 * pending as one number per column (trace-columns.ts). Under hard bounds
 * without weight decay a reward is applied to each row when the row is next
 * used (lazy-rewards.ts); otherwise a step with a reward visits the whole
 * matrix. A reward at the end of an episode is the case it is for.
 */
export class MstdpetRule extends MstdpRule {
  /** Its stored values are next to the weights (DenseWeights.trace). */
  private readonly et: ScaledTrace;
  private readonly columns: TraceColumns;
  /** The rewards applied row by row, or null where each rewarded step updates every weight. */
  private readonly lazy: LazyRewards | null;
  /** Steps without a reward since the last rewarded one, and before it. */
  private quietSteps = 0;
  private quietBefore = 0;

  constructor(parts: RuleParts<LifPopulation>) {
    super(parts);
    if (parts.w.trace === null) throw new Error('MSTDPET needs weights built with a trace');
    this.trace = this.et = new ScaledTrace(parts.w.trace, parts.rule, parts.dt);
    this.columns = new TraceColumns(parts.w, this.pPlus, parts.w.ruleParams[PLUS_DECAY]);
    this.lazy = parts.w.enableLazyRewards();
    this.columns.lazy = this.lazy;
  }

  override update(reward: number): void {
    const c = this.et.lrDt * reward;
    const { lazy } = this;
    // Rewards applied row by row where they come often; a rare one updates every weight, the rows brought up to date first.
    const lazyStep = lazy !== null && c !== 0 && this.quietSteps < LAZY_BELOW_QUIET;
    if (lazy !== null) {
      if (c !== 0 && !lazyStep) lazy.flushAll();
      else lazy.beforeStep(this.et);
      lazy.active = lazyStep || lazy.pending;
    }
    this.traceEligibility(c !== 0);
    this.w.begin();
    if (c !== 0) {
      this.w.ruleParams[ET_C] = c * this.et.scale;
      if (lazy !== null && lazyStep) lazy.reward(this.w.ruleParams, ET_C, this.et);
      else this.w.applyScaledTrace(ET_C, this.columns.pending);
    }
    this.w.end();
    this.advance();
  }

  protected override advance(): void {
    super.advance();
    this.columns.afterPreSpikes(this.pre.spikeIdx, this.pre.spikeCount);
  }

  /**
   * Step 1: et = et * decay + e / tc_e_trace, e from the previous step's
   * spikes and the current p vectors: the decay is the scale's, e adds
   * p_minus on the rows of the pre spikes, then p_plus on the columns of
   * the post spikes.
   */
  private traceEligibility(rewarded: boolean): void {
    const { columns } = this;
    // The scale is about to be folded into the stored values: the pending columns go in first.
    if (this.et.scale * this.et.decay < DenseWeights.RENORMALISE_BELOW) columns.fold();
    // Rewards are coming often again: the rewarded update goes back to the trace alone.
    const lazy = this.lazy !== null && this.lazy.active;
    if (!lazy && rewarded && columns.pending && this.quietSteps < PENDING_AFTER_QUIET) columns.fold();
    const scale = this.et.scale * this.et.decay;
    this.et.decayStep();
    if (scale < DenseWeights.RENORMALISE_BELOW) this.lazy?.traceScaled(scale);
    this.w.ruleParams[ET_K] = this.et.invTc / this.et.scale;
    // These rows' trace is about to change: they take their rewards first.
    this.lazy?.commitRows(this.ePreIdx, this.ePreCount);
    this.w.traceAddRows(this.ePreIdx, this.ePreCount, ET_K, this.lazy !== null && this.lazy.rowBoundsKept());
    columns.rowsTaken(this.ePreIdx, this.ePreCount);
    // A pending column costs one addition, but a rewarded update that reads
    // pending columns costs more than one that reads the trace alone: the
    // columns wait only where rewards have been rare (or, on a rewarded
    // step, where the update reads them anyway).
    // Lazy rewards read the columns row by row: they always wait.
    const wait = lazy || (rewarded ? columns.pending : Math.max(this.quietSteps, this.quietBefore) >= PENDING_AFTER_QUIET);
    if (wait) columns.addColumns(this.ePostIdx, this.ePostCount, ET_K);
    else this.w.traceAddCols(this.ePostIdx, this.ePostCount, ET_K);
    if (rewarded) {
      this.quietBefore = this.quietSteps;
      this.quietSteps = 0;
    } else {
      this.quietSteps++;
    }
  }

  override reset(): void {
    super.reset();
    this.restartColumns();
  }

  /**
   * The pending columns are taken in, and the counts of quiet steps start
   * again, as in a network restored from this state: both then continue
   * with the same bits.
   */
  override getState(): ExportedRuleState {
    this.columns.fold();
    this.quietSteps = this.quietBefore = 0;
    return super.getState();
  }

  override setState(state: AnyRuleState): void {
    super.setState(state);
    this.restartColumns();
  }

  private restartColumns(): void {
    this.columns.restart();
    this.quietSteps = this.quietBefore = 0;
  }

  override eligibilityTrace(): Float64Array {
    return this.columns.values(this.et.stored, this.et.scale);
  }
}
