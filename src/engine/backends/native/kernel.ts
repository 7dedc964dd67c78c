/**
 * The native backend: typed arrays and loops that do work in proportion to
 * spikes wherever model.md allows. The step path allocates nothing.
 */
import { copyOfPausing, runToEnd } from '../../pause.js';
import type { ResolvedNetwork, RuleType } from '../../spec-schema.js';
import { f64Copy, type ExportedState, type ExternalInputs, type Kernel, type KernelState } from '../kernel.js';
import { BatchMstdpetRule, BatchMstdpRule, BatchNoOpRule, BatchStdpRule, type BatchRule } from './batch-rules.js';
import { PopulationCopy, splitSpikes, type SpikingCopy } from './population-copies.js';
import { LifPopulation } from './population.js';
import { MstdpRule, MstdpetRule, NoOpRule, StdpRule, type NativeRule, type RuleParts } from './rules.js';
import { DenseWeights } from './weights.js';

/**
 * MSTDP and STDP connections of at least this many synapses (1 MiB of
 * weights, a core's L2) apply their column updates lazily (lazy-columns.ts):
 * a column of a matrix that fits the cache costs little, and there the
 * bookkeeping costs more than it saves (docs/engine.md, "Lazy columns").
 */
export const LAZY_COLUMNS_MIN_SYNAPSES = 1 << 17;

interface NativeConnection {
  readonly pre: number;
  readonly post: number;
  readonly weights: DenseWeights;
  /** The rule of a network of one copy, or null in a batch. */
  readonly rule: NativeRule | null;
  /** The rule of a batch (batch-rules.ts), or null for one copy. */
  readonly batchRule: BatchRule | null;
}

/**
 * The native kernel, for one copy or a batch of B (model.md, "Batches").
 * Population p of every copy is one LifPopulation of B * n neurons,
 * copy-major (population-copies.ts), stepped in one go; each connection
 * delivers copy b's spikes into copy b's neurons through its one weight
 * matrix. One copy runs the rules of rules.ts on its populations directly,
 * a batch those of batch-rules.ts, which sum the copies' terms.
 */
export class NativeKernel implements Kernel {
  readonly name = 'native';
  private readonly copies: number;
  /** pops[p]: population p, all copies. */
  private readonly pops: LifPopulation[];
  /** copiesOf[p][b]: copy b of population p (the population itself with one copy). */
  private readonly copiesOf: SpikingCopy[][];
  /** split[p]: the copies whose spike lists are split from pops[p]'s after its step; empty for one copy. */
  private readonly split: PopulationCopy[][];
  /** currents[p][b]: copy b's part of population p's input current. */
  private readonly currents: Float64Array[][];
  private readonly conns: NativeConnection[];
  /** incoming[p]: connections whose post population is p, in declaration order. */
  private readonly incoming: NativeConnection[][];
  private readonly rewards: Float64Array;
  private readonly popNames: string[];
  private readonly connNames: string[];

  constructor(
    spec: ResolvedNetwork,
    private readonly external: ExternalInputs,
  ) {
    const B = spec.batch_size;
    this.copies = B;
    this.popNames = Object.keys(spec.populations);
    this.connNames = Object.keys(spec.connections);
    this.pops = this.popNames.map((name) => new LifPopulation({ ...spec.populations[name], n: B * spec.populations[name].n }, spec.dt));
    const sizes = this.popNames.map((name) => spec.populations[name].n);
    this.split = this.pops.map((pop, p) => (B === 1 ? [] : Array.from({ length: B }, (_, b) => new PopulationCopy(pop, sizes[p], b))));
    this.copiesOf = this.pops.map((pop, p) => (B === 1 ? [pop] : this.split[p]));
    this.currents = this.pops.map((pop, p) => (B === 1 ? [pop.current] : Array.from({ length: B }, (_, b) => pop.current.subarray(b * sizes[p], (b + 1) * sizes[p]))));
    this.rewards = new Float64Array(B);
    const popIndex = new Map(this.popNames.map((n, i) => [n, i]));
    this.incoming = this.pops.map(() => []);
    this.conns = this.connNames.map((name) => {
      const c = spec.connections[name];
      const pi = popIndex.get(c.pre) as number;
      const qi = popIndex.get(c.post) as number;
      const weights = new DenseWeights({
        rows: sizes[pi],
        cols: sizes[qi],
        wMin: c.w_min,
        wMax: c.w_max,
        weightDecay: c.rule.weight_decay,
        soft: c.rule.boundary === 'soft',
        lazyColumns: B === 1 && (c.rule.type === 'MSTDP' || c.rule.type === 'STDP') && sizes[pi] * sizes[qi] >= LAZY_COLUMNS_MIN_SYNAPSES,
        trace: B === 1 && c.rule.type === 'MSTDPET',
        terms: B > 1,
        copies: B,
      });
      const rule = { w: weights, rule: c.rule, dt: spec.dt };
      const conn: NativeConnection =
        B === 1
          ? { pre: pi, post: qi, weights, rule: new SINGLE_RULES[c.rule.type]({ ...rule, pre: this.pops[pi], post: this.pops[qi] }), batchRule: null }
          : { pre: pi, post: qi, weights, rule: null, batchRule: new BATCH_RULES[c.rule.type]({ ...rule, pre: this.split[pi], post: this.split[qi] }) };
      this.incoming[qi].push(conn);
      return conn;
    });
  }

  stepPopulations(): void {
    const { pops, incoming, copiesOf, currents, split } = this;
    const { inputs, hasInput, nonZero, nonZeroCount } = this.external;
    const B = this.copies;
    for (let p = 0; p < pops.length; p++) {
      const pop = pops[p];
      // A pre population later in the order has not stepped yet, so its
      // spikes are the previous step's: the recurrent one-step delay.
      const inc = incoming[p];
      let delivers = false;
      for (let k = 0; k < inc.length; k++) if (pops[inc[k].pre].spikeCount > 0) delivers = true;
      // Input only (or none), to few of its neurons, and few away from
      // rest: the step visits those. Otherwise (constant currents to every
      // neuron, outputs that fired) the dense step, which visits every
      // neuron at less cost each than the sparse step's list. Both give the
      // same bits, so the copies of a batch may share either.
      if (!delivers && pop.prefersSparse(hasInput[p] === 1 ? nonZeroCount[p] : 0)) {
        if (hasInput[p] === 1) pop.stepSparse(inputs[p], nonZero[p], nonZeroCount[p]);
        else pop.stepSparse(null, nonZero[p], 0);
      } else {
        const cur = pop.current;
        // A delivery may write the input whole where it would start from
        // zeros (a batch's, or one copy's): the zeros are not written first.
        let stale = false;
        if (hasInput[p] === 1) {
          cur.set(inputs[p]);
          pop.currentIsZero = false;
        } else if (!pop.currentIsZero) {
          stale = true;
          pop.currentIsZero = true;
        }
        for (let k = 0; k < inc.length; k++) {
          const c = inc[k];
          if (B === 1 || c.weights.batch !== null) {
            // One call: one copy's spikes, or every copy's from the pre population's whole spike list.
            const from = pops[c.pre];
            if (from.spikeCount > 0) {
              if (B === 1) c.weights.deliver(from.spikeIdx, from.spikeCount, cur, pop.currentIsZero);
              else c.weights.deliverCopies(from.spikeIdx, from.spikeCount, cur, pop.currentIsZero);
              pop.currentIsZero = false;
              stale = false;
            }
            continue;
          }
          if (stale) {
            cur.fill(0);
            stale = false;
          }
          const pre = copiesOf[c.pre];
          for (let b = 0; b < B; b++) {
            const from = pre[b];
            if (from.spikeCount > 0) {
              c.weights.deliver(from.spikeIdx, from.spikeCount, currents[p][b]);
              pop.currentIsZero = false;
            }
          }
        }
        if (stale) cur.fill(0);
        pop.stepDense();
      }
      if (B > 1) splitSpikes(pop, split[p]);
    }
  }

  updateRulesPerCopy(rewards: Float64Array): void {
    const conns = this.conns;
    if (this.copies === 1) {
      this.updateRules(rewards[0]);
      return;
    }
    for (let k = 0; k < conns.length; k++) (conns[k].batchRule as BatchRule).update(rewards);
  }

  updateRules(reward: number): void {
    const conns = this.conns;
    if (this.copies > 1) {
      this.rewards.fill(reward);
      this.updateRulesPerCopy(this.rewards);
      return;
    }
    for (let k = 0; k < conns.length; k++) (conns[k].rule as NativeRule).update(reward);
  }

  spikeCount(pop: number, copy = 0): number {
    return this.copiesOf[pop][copy].spikeCount;
  }

  readSpikes(pop: number, out: Int32Array, copy = 0): number {
    const p = this.copiesOf[pop][copy];
    for (let k = 0; k < p.spikeCount; k++) out[k] = p.spikeIdx[k];
    return p.spikeCount;
  }

  private ofCopy(pop: number, copy: number, a: Float64Array): Float64Array {
    const n = this.copiesOf[pop][copy].n;
    return a.slice(copy * n, (copy + 1) * n);
  }

  potentials(pop: number, copy = 0): Float64Array {
    return this.ofCopy(pop, copy, this.pops[pop].v);
  }

  traces(pop: number, copy = 0): Float64Array {
    this.pops[pop].catchUp();
    return this.ofCopy(pop, copy, this.pops[pop].traces);
  }

  refractory(pop: number, copy = 0): Float64Array {
    this.pops[pop].catchUp();
    return this.ofCopy(pop, copy, this.pops[pop].refrac);
  }

  weights(conn: number): Float64Array {
    return this.conns[conn].weights.toFlat();
  }

  weightsPausing(conn: number): Generator<void, Float64Array> {
    return this.conns[conn].weights.toFlatPausing();
  }

  setWeights(conn: number, w: Float64Array): void {
    this.conns[conn].weights.setFlat(w);
  }

  setWeightsPausing(conn: number, w: Float64Array): Generator<void, void> {
    return this.conns[conn].weights.setFlatPausing(w);
  }

  eligibility(conn: number, copy = 0): Float64Array | null {
    const c = this.conns[conn];
    if (c.batchRule !== null) return c.batchRule.eligibility(copy);
    const e = (c.rule as NativeRule).eligibility();
    return e ? Float64Array.from(e.flat()) : null;
  }

  eligibilityTrace(conn: number, copy = 0): Float64Array | null {
    const c = this.conns[conn];
    return c.batchRule !== null ? c.batchRule.eligibilityTrace(copy) : (c.rule as NativeRule).eligibilityTrace();
  }

  resetState(): void {
    for (const p of this.pops) p.reset();
    for (const copies of this.split) for (const c of copies) c.spikeCount = 0;
    for (const c of this.conns) (c.batchRule ?? (c.rule as NativeRule)).reset();
  }

  /** Every per-neuron vector copy-major (copy b's at b * n), spikes as indices into it. */
  exportState(options: { live?: boolean } = {}): ExportedState {
    const state: ExportedState = { populations: {}, connections: {} };
    this.pops.forEach((p, i) => {
      p.catchUp();
      state.populations[this.popNames[i]] = {
        v: f64Copy(p.v),
        refrac: f64Copy(p.refrac),
        traces: f64Copy(p.traces),
        spikes: Array.from(p.spikeIdx.subarray(0, p.spikeCount)),
      };
    });
    const live = options.live === true;
    this.conns.forEach((c, i) => {
      c.weights.flushAll();
      const rule = (c.batchRule ?? (c.rule as NativeRule)).getState();
      state.connections[this.connNames[i]] = {
        w: live ? c.weights.stored : f64Copy(c.weights.stored),
        scale: c.weights.scale,
        // MSTDPET's trace comes as the rule's own values.
        rule: live || rule.et === undefined ? rule : { ...rule, et: f64Copy(rule.et) },
      };
    });
    return state;
  }

  *exportStatePausing(): Generator<void, ExportedState> {
    // The live state, then its per-synapse vectors copied in pauses: the caller keeps the kernel unchanged until the end.
    const state = this.exportState({ live: true });
    for (const name of this.connNames) {
      const c = state.connections[name];
      c.w = yield* copyOfPausing(c.w);
      if (c.rule.et !== undefined) c.rule = { ...c.rule, et: yield* copyOfPausing(c.rule.et) };
    }
    return state;
  }

  importState(state: KernelState): void {
    runToEnd(this.importStatePausing(state));
  }

  *importStatePausing(state: KernelState): Generator<void, void> {
    this.pops.forEach((p, i) => {
      const s = state.populations[this.popNames[i]];
      p.v.set(s.v);
      p.refrac.set(s.refrac);
      p.traces.set(s.traces);
      if (this.copies === 1) p.setSpikes(s.spikes);
      else {
        // Copy by copy, as a step leaves them (splitSpikes relies on it), each copy's in the order given (a stable sort).
        const n = p.n / this.copies;
        p.setSpikes(s.spikes.slice().sort((a, b) => Math.floor(a / n) - Math.floor(b / n)));
        splitSpikes(p, this.split[i]);
      }
      p.resync();
    });
    for (let i = 0; i < this.conns.length; i++) {
      const c = this.conns[i];
      const s = state.connections[this.connNames[i]];
      // Tens of megabytes copied in one go held the event loop for tens of milliseconds.
      yield* c.weights.setStoredPausing(s.w, s.scale);
      (c.batchRule ?? (c.rule as NativeRule)).setState(s.rule);
    }
  }

  dispose(): void {}
}

const SINGLE_RULES: Record<RuleType, new (parts: RuleParts<LifPopulation>) => NativeRule> = {
  NoOp: NoOpRule,
  STDP: StdpRule,
  MSTDP: MstdpRule,
  MSTDPET: MstdpetRule,
};
const BATCH_RULES: Record<RuleType, new (parts: RuleParts<readonly SpikingCopy[]>) => BatchRule> = {
  NoOp: BatchNoOpRule,
  STDP: BatchStdpRule,
  MSTDP: BatchMstdpRule,
  MSTDPET: BatchMstdpetRule,
};

export function createNativeKernel(spec: ResolvedNetwork, external: ExternalInputs): Kernel {
  return new NativeKernel(spec, external);
}
