/**
 * A dense connection and its learning rule on tfjs tensors (model.md,
 * "Connection" and "Learning rules"). Every term is the whole [pre.n][post.n]
 * matrix, exactly as written on the page: this is the reference the sparse
 * native kernels are checked against, not a fast path.
 *
 * In a batch (model.md, "Batches") the copy is the leading dimension of every
 * per-neuron and per-synapse state tensor ([B][n], [B][pre.n][post.n]); each
 * rule's per-copy terms are reduced over it (sum or mean) into the shared
 * weights' update.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedConnection, RuleType } from '../../spec-schema.js';
import { WeightsOnlyRule, type ExportedRuleState, type RuleState } from '../kernel.js';
import { keepAll, type Retire, type TfjsPopulation } from './population.js';

export class TfjsConnection {
  readonly rows: number;
  readonly cols: number;
  /** Real weights [pre.n][post.n]. */
  w: tf.Tensor;
  private readonly c: ResolvedConnection;
  private readonly rule: TfjsRule;

  constructor(
    c: ResolvedConnection,
    readonly pre: TfjsPopulation,
    readonly post: TfjsPopulation,
    dt: number,
  ) {
    this.c = c;
    this.rows = pre.n;
    this.cols = post.n;
    this.w = tf.zeros([pre.n, post.n]);
    this.rule = new RULES[c.rule.type]({ c, pre, post, dt, batch: new Batch(pre.copies, c.rule.reduction === 'mean') });
  }

  /** What this connection delivers to its post population: x_post[j] += sum_i s_pre[i] * w[i][j], copy by copy. Inside a tidy. */
  deliver(sPre: tf.Tensor): tf.Tensor {
    return tf.dot(sPre, this.w);
  }

  /** The rule's update with this reward, or a batch's rewards per copy (model.md "Learning rules"). */
  update(reward: number, rewards: Float64Array | null, retire: Retire = tf.dispose): void {
    if (this.rule.isIdentity) return;
    const next = tf.tidy(() => {
      const { up, down, state } = this.rule.terms({ reward, rewards });
      return { w: applyUpdate(this.c, this.w, up, down), state };
    });
    retire([this.w]);
    this.w = next.w;
    this.rule.commit(next.state, retire);
  }

  /** Real weights, row-major, clamped into the bounds. */
  setWeights(w: ArrayLike<number>): void {
    this.load(w, 1);
  }

  /**
   * Real weights, row-major. Clamped again in float64: a float32 bound such
   * as 0.3 reads back as 0.30000001192092896, outside the user's w_max.
   */
  weights(): Float64Array {
    const { w_min, w_max } = this.c;
    return Float64Array.from(this.w.dataSync(), (v) => (v < w_min ? w_min : v > w_max ? w_max : v));
  }

  eligibility(copy: number): Float64Array | null {
    return this.rule.eligibility(copy);
  }

  eligibilityTrace(copy: number): Float64Array | null {
    return this.rule.eligibilityTrace?.(copy) ?? null;
  }

  /** The weights and the rule's state tensors themselves, for a checkpoint (see TfjsPopulation.state). */
  state(): tf.Tensor[] {
    return [this.w, ...this.rule.state()];
  }

  /** Puts back what state() gave, freeing nothing: the checkpoint decides what to free. */
  restore(saved: tf.Tensor[]): void {
    this.w = saved[0];
    this.rule.commit(saved.slice(1), keepAll);
  }

  /** The state variables by name, for finding a non-finite value. */
  variables(): [string, tf.Tensor][] {
    return [['w', this.w], ...this.rule.variables()];
  }

  resetRule(): void {
    this.rule.reset();
  }

  /** The shared snapshot form: weights as stored values times a scale (always 1 here) and the rule's state. */
  exportState(): { w: Float64Array; scale: number; rule: ExportedRuleState } {
    return { w: this.weights(), scale: 1, rule: this.rule.getState() };
  }

  /** Restores from the shared snapshot form; a native snapshot's lazy decay scale is folded into the weights. */
  importState(s: { w: ArrayLike<number>; scale: number; rule: RuleState }): void {
    this.load(s.w, s.scale);
    this.rule.setState(s.rule);
  }

  /** w[k] * scale, clamped: a native stored * scale can be an ulp outside a bound. */
  private load(w: ArrayLike<number>, scale: number): void {
    const { w_min, w_max } = this.c;
    const f = new Float32Array(this.rows * this.cols);
    for (let k = 0; k < f.length; k++) f[k] = Math.min(w_max, Math.max(w_min, w[k] * scale));
    tf.dispose(this.w);
    this.w = tf.tensor2d(f, [this.rows, this.cols]);
  }

  dispose(): void {
    tf.dispose(this.w);
    this.rule.dispose();
  }
}

/**
 * model.md's update, steps 1-3:
 * 1. hard: w += up - down; soft: w += up * (w_max - w) - down * (w - w_min), both from the same w;
 * 2. w *= (1 - weight_decay);
 * 3. w = clamp(w, w_min, w_max).
 * up / down null mean zero terms (NoOp).
 */
function applyUpdate(c: ResolvedConnection, w: tf.Tensor, up: tf.Tensor | null, down: tf.Tensor | null): tf.Tensor {
  const { w_min, w_max } = c;
  let w1: tf.Tensor = w;
  if (up && down) {
    w1 =
      c.rule.boundary === 'soft'
        ? tf.add(w, tf.sub(tf.mul(up, tf.sub(w_max, w)), tf.mul(down, tf.sub(w, w_min))))
        : tf.add(w, tf.sub(up, down));
  }
  // Multiplying by 1 is exact, so skipping it when there is no decay changes nothing.
  const w2 = c.rule.weight_decay !== 0 ? tf.mul(w1, 1 - c.rule.weight_decay) : w1;
  return tf.clipByValue(w2, w_min, w_max);
}

/** A step's reward: one for every copy, or (a batch's) one per copy. */
type Reward = { reward: number; rewards: Float64Array | null };

/** Per-copy products and the reduction over copies; with one copy, the plain terms. */
class Batch {
  constructor(
    readonly copies: number,
    private readonly mean: boolean,
  ) {}

  /** outer(a, b) of each copy: [B][rows][cols] from [B][rows] and [B][cols]. */
  outer(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return this.copies > 1 ? tf.mul(tf.expandDims(a, 2), tf.expandDims(b, 1)) : outer(a, b);
  }

  /** A per-copy term reduced over the copies with the rule's reduction. */
  reduce(t: tf.Tensor): tf.Tensor {
    if (this.copies === 1) return t;
    const sum = tf.sum(t, 0);
    return this.mean ? tf.div(sum, this.copies) : sum;
  }

  /** k times each copy's reward, shaped to scale a [B][rows][cols] term (a number with one reward for all). */
  scaledReward(r: Reward, k: number): tf.Tensor | number {
    if (r.rewards === null || this.copies === 1) return k * (r.rewards === null ? r.reward : r.rewards[0]);
    return tf.tensor3d(Float32Array.from(r.rewards, (x) => k * x), [this.copies, 1, 1]);
  }

  /** Copy `copy`'s [rows][cols] of a per-copy matrix, as float64. */
  slice(t: tf.Tensor, size: number, copy: number): Float64Array {
    return Float64Array.from(t.dataSync().subarray(copy * size, (copy + 1) * size));
  }
}

type RuleTerms = {
  up: tf.Tensor | null;
  down: tf.Tensor | null;
  /** The rule's new state tensors (kept by the tidy, handed to commit). */
  state: tf.Tensor[];
};

/** What a rule is built from: its connection, the connection's populations, the time step, and the batch's shape. */
interface RuleParts {
  c: ResolvedConnection;
  pre: TfjsPopulation;
  post: TfjsPopulation;
  dt: number;
  batch: Batch;
}

interface TfjsRule {
  /** True when an update cannot change anything, so it is skipped. */
  readonly isIdentity: boolean;
  /** This update's terms; inside a tidy, reading but not replacing the rule's state. */
  terms(reward: Reward): RuleTerms;
  /** Installs the state tensors terms() returned (or state() gave), handing the old ones to `retire`. */
  commit(state: tf.Tensor[], retire?: Retire): void;
  /** The state tensors themselves, in commit()'s order. */
  state(): tf.Tensor[];
  /** State vectors by name (p_plus, p_minus), for finding a non-finite value. */
  variables(): [string, tf.Tensor][];
  reset(): void;
  getState(): ExportedRuleState;
  setState(state: RuleState): void;
  eligibility(copy: number): Float64Array | null;
  /** MSTDPET's eligibility trace, row-major; absent for other rules. */
  eligibilityTrace?(copy: number): Float64Array;
  dispose(): void;
}

/** A rule whose only state is the weights: nothing to commit, reset, save or free. */
abstract class StatelessRule extends WeightsOnlyRule implements TfjsRule {
  abstract readonly isIdentity: boolean;
  abstract terms(reward: Reward): RuleTerms;
  commit(): void {}
  state(): tf.Tensor[] {
    return [];
  }
  variables(): [string, tf.Tensor][] {
    return [];
  }
  dispose(): void {}
}

/** NoOp: up = down = 0; only decay and bounds act. */
class NoOpRule extends StatelessRule {
  readonly isIdentity: boolean;

  constructor({ c }: RuleParts) {
    super();
    // With no decay the update is w = clamp(w), and weights are always within
    // their bounds (setWeights clamps), so it cannot change a weight.
    this.isIdentity = c.rule.weight_decay === 0;
  }

  terms(): RuleTerms {
    return { up: null, down: null, state: [] };
  }
}

/** Pair-based STDP with nearest traces (BindsNET PostPre). */
class StdpRule extends StatelessRule {
  readonly isIdentity = false;
  private readonly pre: TfjsPopulation;
  private readonly post: TfjsPopulation;
  private readonly batch: Batch;
  private readonly lr: [number, number];

  constructor({ c, pre, post, batch }: RuleParts) {
    super();
    this.pre = pre;
    this.post = post;
    this.batch = batch;
    this.lr = c.rule.lr;
  }

  terms(): RuleTerms {
    const { pre, post, lr, batch } = this;
    // down = lr[0] * outer(s_pre, traces_post); up = lr[1] * outer(traces_pre, s_post); per copy, reduced
    const down = batch.reduce(tf.mul(lr[0], batch.outer(pre.s, post.traces)));
    const up = batch.reduce(tf.mul(lr[1], batch.outer(pre.traces, post.s)));
    return { up, down, state: [] };
  }
}

/**
 * Reward-modulated STDP (Florian 2007, BindsNET MSTDP), with a dense
 * eligibility e. The shared snapshot format describes e by the spikes it was
 * built from (e_pre, e_post) plus p_plus / p_minus, which do not change between
 * building e and using it; so the spike vectors e was built from are kept
 * alongside it, and e is rebuilt from them on restore.
 */
class MstdpRule implements TfjsRule {
  readonly isIdentity = false;
  private readonly lr0: number;
  private readonly plusDecay: number;
  private readonly minusDecay: number;
  private readonly aPlus: number;
  private readonly aMinus: number;
  private pPlus: tf.Tensor;
  private pMinus: tf.Tensor;
  /** Read by MSTDPET, whose trace accumulates it. */
  e: tf.Tensor;
  /** The pre and post spike vectors (0/1) e was built from. */
  private eSPre: tf.Tensor;
  private eSPost: tf.Tensor;
  private readonly pre: TfjsPopulation;
  private readonly post: TfjsPopulation;
  private readonly batch: Batch;

  constructor({ c, pre, post, dt, batch }: RuleParts) {
    this.pre = pre;
    this.post = post;
    this.batch = batch;
    this.lr0 = c.rule.lr[0];
    this.plusDecay = Math.exp(-dt / (c.rule.tc_plus as number));
    this.minusDecay = Math.exp(-dt / (c.rule.tc_minus as number));
    this.aPlus = c.rule.a_plus as number;
    this.aMinus = c.rule.a_minus as number;
    [this.pPlus, this.pMinus, this.e, this.eSPre, this.eSPost] = this.initial();
  }

  private initial(): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] {
    const { pre, post } = this;
    return [tf.zeros(pre.shape), tf.zeros(post.shape), tf.zeros(this.matrixShape()), tf.zeros(pre.shape), tf.zeros(post.shape)];
  }

  /** [pre.n][post.n], with the copies first in a batch. */
  matrixShape(): number[] {
    const m = [this.pre.n, this.post.n];
    return this.batch.copies > 1 ? [this.batch.copies, ...m] : m;
  }

  terms(reward: Reward): RuleTerms {
    const { pre, post, batch } = this;
    // 1. dw = lr[0] * r * e, with the eligibility left by the previous step; split by sign per copy, then reduced
    const dw = tf.mul(batch.scaledReward(reward, this.lr0), this.e);
    const up = batch.reduce(tf.relu(dw));
    const down = batch.reduce(tf.relu(tf.neg(dw)));
    // 2. p_plus = p_plus * exp(-dt / tc_plus) + a_plus * s_pre
    const pPlus = tf.add(tf.mul(this.pPlus, this.plusDecay), tf.mul(this.aPlus, pre.s));
    // 3. p_minus = p_minus * exp(-dt / tc_minus) + a_minus * s_post
    const pMinus = tf.add(tf.mul(this.pMinus, this.minusDecay), tf.mul(this.aMinus, post.s));
    // 4. e = outer(p_plus, s_post) + outer(s_pre, p_minus)
    const e = eligibilityOf(batch, pPlus, pMinus, pre.s, post.s);
    return { up, down, state: [pPlus, pMinus, e, tf.clone(pre.s), tf.clone(post.s)] };
  }

  commit(state: tf.Tensor[], retire: Retire = tf.dispose): void {
    retire([this.pPlus, this.pMinus, this.e, this.eSPre, this.eSPost]);
    [this.pPlus, this.pMinus, this.e, this.eSPre, this.eSPost] = state;
  }

  state(): tf.Tensor[] {
    return [this.pPlus, this.pMinus, this.e, this.eSPre, this.eSPost];
  }

  variables(): [string, tf.Tensor][] {
    return [['p_plus', this.pPlus], ['p_minus', this.pMinus]];
  }

  reset(): void {
    this.commit(this.initial());
  }

  getState(): ExportedRuleState {
    return {
      p_plus: Array.from(this.pPlus.dataSync()),
      p_minus: Array.from(this.pMinus.dataSync()),
      e_pre: indicesOf(this.eSPre.dataSync()),
      e_post: indicesOf(this.eSPost.dataSync()),
    };
  }

  setState(state: RuleState): void {
    const { pre, post } = this;
    const sPre = new Float32Array(pre.copies * pre.n);
    const sPost = new Float32Array(post.copies * post.n);
    for (const i of state.e_pre ?? []) sPre[i] = 1;
    for (const j of state.e_post ?? []) sPost[j] = 1;
    const pPlus = tf.tensor(Float32Array.from(state.p_plus ?? sPre.map(() => 0)), pre.shape);
    const pMinus = tf.tensor(Float32Array.from(state.p_minus ?? sPost.map(() => 0)), post.shape);
    const eSPre = tf.tensor(sPre, pre.shape);
    const eSPost = tf.tensor(sPost, post.shape);
    const e = tf.tidy(() => eligibilityOf(this.batch, pPlus, pMinus, eSPre, eSPost));
    this.commit([pPlus, pMinus, e, eSPre, eSPost]);
  }

  eligibility(copy: number): Float64Array {
    return this.batch.slice(this.e, this.pre.n * this.post.n, copy);
  }

  dispose(): void {
    tf.dispose([this.pPlus, this.pMinus, this.e, this.eSPre, this.eSPost]);
  }
}

/**
 * MSTDP with an eligibility trace (Florian 2007, BindsNET MSTDPET): MSTDP's
 * p_plus, p_minus and e, and the trace et = et * exp(-dt / tc_e_trace) +
 * e / tc_e_trace that the reward scales, dw = lr[0] * dt * r * et.
 */
class MstdpetRule implements TfjsRule {
  readonly isIdentity = false;
  private readonly mstdp: MstdpRule;
  private readonly lrDt: number;
  private readonly etDecay: number;
  private readonly tc: number;
  private et: tf.Tensor;

  private readonly pre: TfjsPopulation;
  private readonly post: TfjsPopulation;
  private readonly batch: Batch;

  constructor(parts: RuleParts) {
    const { c, dt } = parts;
    this.pre = parts.pre;
    this.post = parts.post;
    this.batch = parts.batch;
    this.mstdp = new MstdpRule(parts);
    this.tc = c.rule.tc_e_trace as number;
    this.etDecay = Math.exp(-dt / this.tc);
    this.lrDt = c.rule.lr[0] * dt;
    this.et = tf.zeros(this.mstdp.matrixShape());
  }

  terms(reward: Reward): RuleTerms {
    const { batch } = this;
    // 1. et = et * exp(-dt / tc_e_trace) + e / tc_e_trace, e left by the previous step
    const et = tf.add(tf.mul(this.et, this.etDecay), tf.div(this.mstdp.e, this.tc));
    // 2. dw = lr[0] * dt * r * et; split by sign per copy, then reduced
    const dw = tf.mul(batch.scaledReward(reward, this.lrDt), et);
    const up = batch.reduce(tf.relu(dw));
    const down = batch.reduce(tf.relu(tf.neg(dw)));
    // 3-4. p_plus, p_minus and e as MSTDP's steps 2-4 (its terms ignore a zero reward's dw)
    const { state } = this.mstdp.terms({ reward: 0, rewards: null });
    return { up, down, state: [...state, et] };
  }

  commit(state: tf.Tensor[], retire: Retire = tf.dispose): void {
    retire([this.et]);
    this.et = state[state.length - 1];
    this.mstdp.commit(state.slice(0, -1), retire);
  }

  state(): tf.Tensor[] {
    return [...this.mstdp.state(), this.et];
  }

  variables(): [string, tf.Tensor][] {
    return [...this.mstdp.variables(), ['et', this.et]];
  }

  reset(): void {
    this.mstdp.reset();
    tf.dispose(this.et);
    this.et = tf.zeros(this.mstdp.matrixShape());
  }

  getState(): ExportedRuleState {
    return { ...this.mstdp.getState(), et: Float64Array.from(this.et.dataSync()), et_scale: 1 };
  }

  setState(state: RuleState): void {
    this.mstdp.setState(state);
    // A native snapshot keeps the trace's decay scale apart; here it is folded in.
    const scale = state.et_scale ?? 1;
    const et = state.et ? Float32Array.from(state.et, (x) => x * scale) : new Float32Array(this.batch.copies * this.pre.n * this.post.n);
    tf.dispose(this.et);
    this.et = tf.tensor(et, this.mstdp.matrixShape());
  }

  eligibility(copy: number): Float64Array {
    return this.mstdp.eligibility(copy);
  }

  eligibilityTrace(copy: number): Float64Array {
    return this.batch.slice(this.et, this.pre.n * this.post.n, copy);
  }

  dispose(): void {
    this.mstdp.dispose();
    tf.dispose(this.et);
  }
}

function eligibilityOf(batch: Batch, pPlus: tf.Tensor, pMinus: tf.Tensor, sPre: tf.Tensor, sPost: tf.Tensor): tf.Tensor {
  return tf.add(batch.outer(pPlus, sPost), batch.outer(sPre, pMinus));
}

/** outer(a, b)[i][j] = a[i] * b[j]; every vector here is rank 1. */
function outer(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.outerProduct(a as tf.Tensor1D, b as tf.Tensor1D);
}

function indicesOf(mask: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) out.push(i);
  return out;
}

const RULES: Record<RuleType, new (parts: RuleParts) => TfjsRule> = {
  NoOp: NoOpRule,
  STDP: StdpRule,
  MSTDP: MstdpRule,
  MSTDPET: MstdpetRule,
};
