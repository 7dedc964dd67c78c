/**
 * The native backend: typed arrays and loops that do work in proportion to
 * spikes wherever model.md allows. The step path allocates nothing.
 */
import { copyPausing, runToEnd } from '../../pause.js';
import type { ResolvedNetwork } from '../../spec-schema.js';
import { f64Copy, type ExportedState, type ExternalInputs, type Kernel, type KernelState } from '../kernel.js';
import { BatchNativeKernel } from './batch-kernel.js';
import { LifPopulation } from './population.js';
import { MstdpRule, MstdpetRule, NoOpRule, StdpRule, type NativeRule } from './rules.js';
import { DenseWeights } from './weights.js';

/**
 * MSTDP connections of at least this many synapses (1 MiB of weights, a
 * core's L2) apply their column updates lazily (lazy-columns.ts): a column of
 * a matrix that fits the cache costs little, and there the bookkeeping
 * costs more than it saves (docs/engine.md, "Lazy MSTDP columns").
 */
export const LAZY_COLUMNS_MIN_SYNAPSES = 1 << 17;

interface NativeConnection {
  readonly pre: LifPopulation;
  readonly post: LifPopulation;
  readonly weights: DenseWeights;
  readonly rule: NativeRule;
}

export class NativeKernel implements Kernel {
  readonly name = 'native';
  private readonly pops: LifPopulation[];
  private readonly conns: NativeConnection[];
  /** incoming[p]: connections whose post population is p, in declaration order. */
  private readonly incoming: NativeConnection[][];
  private readonly popNames: string[];
  private readonly connNames: string[];

  constructor(
    spec: ResolvedNetwork,
    private readonly external: ExternalInputs,
  ) {
    this.popNames = Object.keys(spec.populations);
    this.connNames = Object.keys(spec.connections);
    this.pops = this.popNames.map((name) => new LifPopulation(spec.populations[name], spec.dt));
    const popIndex = new Map(this.popNames.map((n, i) => [n, i]));
    this.incoming = this.pops.map(() => []);
    this.conns = this.connNames.map((name) => {
      const c = spec.connections[name];
      const pi = popIndex.get(c.pre) as number;
      const qi = popIndex.get(c.post) as number;
      const pre = this.pops[pi];
      const post = this.pops[qi];
      const weights = new DenseWeights({
        rows: pre.n,
        cols: post.n,
        wMin: c.w_min,
        wMax: c.w_max,
        weightDecay: c.rule.weight_decay,
        soft: c.rule.boundary === 'soft',
        lazyColumns: c.rule.type === 'MSTDP' && pre.n * post.n >= LAZY_COLUMNS_MIN_SYNAPSES,
      });
      let rule: NativeRule;
      switch (c.rule.type) {
        case 'STDP':
          rule = new StdpRule(pre, post, weights, c.rule);
          break;
        case 'MSTDP':
          rule = new MstdpRule(pre, post, weights, c.rule, spec.dt);
          break;
        case 'MSTDPET':
          rule = new MstdpetRule(pre, post, weights, c.rule, spec.dt);
          break;
        default:
          rule = new NoOpRule(weights);
      }
      const conn = { pre, post, weights, rule };
      this.incoming[qi].push(conn);
      return conn;
    });
  }

  stepPopulations(): void {
    const { pops, incoming } = this;
    const { inputs, hasInput, nonZero, nonZeroCount } = this.external;
    for (let p = 0; p < pops.length; p++) {
      const pop = pops[p];
      // A pre population later in the order has not stepped yet, so its
      // spikes are the previous step's: the recurrent one-step delay.
      const inc = incoming[p];
      let delivers = false;
      for (let k = 0; k < inc.length; k++) if (inc[k].pre.spikeCount > 0) delivers = true;
      // Input only (or none), to few of its neurons: the step visits the
      // neurons with input or away from rest. Input to a quarter or more of
      // them (constant currents to every neuron) takes the dense step, which
      // visits every neuron at less cost each than the sparse step's list.
      if (!delivers && pop.sparseCapable && (hasInput[p] === 0 || nonZeroCount[p] * 4 < pop.n)) {
        if (hasInput[p] === 1) pop.stepSparse(inputs[p], nonZero[p], nonZeroCount[p]);
        else pop.stepSparse(null, nonZero[p], 0);
        continue;
      }
      const cur = pop.current;
      if (hasInput[p] === 1) {
        cur.set(inputs[p]);
        pop.currentIsZero = false;
      } else if (!pop.currentIsZero) {
        cur.fill(0);
        pop.currentIsZero = true;
      }
      for (let k = 0; k < inc.length; k++) {
        const c = inc[k];
        if (c.pre.spikeCount > 0) {
          c.weights.deliver(c.pre.spikeIdx, c.pre.spikeCount, cur);
          pop.currentIsZero = false;
        }
      }
      pop.stepDense();
    }
  }

  updateRulesPerCopy(rewards: Float64Array): void {
    this.updateRules(rewards[0]);
  }

  updateRules(reward: number): void {
    const conns = this.conns;
    for (let k = 0; k < conns.length; k++) conns[k].rule.update(reward);
  }

  spikeCount(pop: number): number {
    return this.pops[pop].spikeCount;
  }

  readSpikes(pop: number, out: Int32Array): number {
    const p = this.pops[pop];
    for (let k = 0; k < p.spikeCount; k++) out[k] = p.spikeIdx[k];
    return p.spikeCount;
  }

  potentials(pop: number): Float64Array {
    return this.pops[pop].v.slice();
  }

  traces(pop: number): Float64Array {
    this.pops[pop].catchUp();
    return this.pops[pop].traces.slice();
  }

  refractory(pop: number): Float64Array {
    this.pops[pop].catchUp();
    return this.pops[pop].refrac.slice();
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

  eligibility(conn: number): Float64Array | null {
    const e = this.conns[conn].rule.eligibility();
    return e ? Float64Array.from(e.flat()) : null;
  }

  eligibilityTrace(conn: number): Float64Array | null {
    return this.conns[conn].rule.eligibilityTrace();
  }

  resetState(): void {
    for (const p of this.pops) p.reset();
    for (const c of this.conns) c.rule.reset();
  }

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
    this.conns.forEach((c, i) => {
      c.weights.flushAll();
      state.connections[this.connNames[i]] = {
        w: options.live === true ? c.weights.stored : f64Copy(c.weights.stored),
        scale: c.weights.scale,
        rule: c.rule.getState(),
      };
    });
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
      p.setSpikes(s.spikes);
      p.resync();
    });
    for (let i = 0; i < this.conns.length; i++) {
      const c = this.conns[i];
      const s = state.connections[this.connNames[i]];
      c.weights.flushAll();
      // Tens of megabytes copied in one go held the event loop for tens of milliseconds.
      yield* copyPausing(c.weights.stored, s.w);
      c.weights.scale = s.scale;
      c.rule.setState(s.rule);
    }
  }

  dispose(): void {}
}

/** A batch (batch_size > 1) runs on its own kernel; one copy keeps every fast path here. */
export function createNativeKernel(spec: ResolvedNetwork, external: ExternalInputs): Kernel {
  return spec.batch_size > 1 ? new BatchNativeKernel(spec, external) : new NativeKernel(spec, external);
}
