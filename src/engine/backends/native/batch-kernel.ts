/**
 * The native backend for a network of batch_size B > 1 (model.md, "Batches"):
 * every population has B copies (LifPopulation each, stepped as in
 * kernel.ts, sparse where they can), every connection one DenseWeights that
 * all copies deliver through, and one batch rule (batch-rules.ts) that sums
 * the copies' terms and applies them once. The step allocates nothing.
 */
import { copyPausing, runToEnd } from '../../pause.js';
import type { ResolvedNetwork } from '../../spec-schema.js';
import { f64Copy, type ExportedState, type ExternalInputs, type Kernel, type KernelState } from '../kernel.js';
import { BatchMstdpRule, BatchMstdpetRule, BatchNoOpRule, BatchStdpRule, type BatchRule } from './batch-rules.js';
import { LifPopulation } from './population.js';
import { DenseWeights } from './weights.js';

interface BatchConnection {
  readonly pre: number;
  readonly post: number;
  readonly weights: DenseWeights;
  readonly rule: BatchRule;
}

export class BatchNativeKernel implements Kernel {
  readonly name = 'native';
  private readonly copies: number;
  /** pops[p][b]: copy b of population p. */
  private readonly pops: LifPopulation[][];
  private readonly conns: BatchConnection[];
  /** incoming[p]: connections whose post population is p, in declaration order. */
  private readonly incoming: BatchConnection[][];
  /** views[p][b]: copy b's part of population p's input buffer. */
  private readonly views: Float64Array[][];
  /** Scratch for the sparse step's list of non-zero inputs (scanned there). */
  private readonly scratch: Int32Array[];
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
    this.pops = this.popNames.map((name) => Array.from({ length: B }, () => new LifPopulation(spec.populations[name], spec.dt)));
    this.views = this.popNames.map((name, p) => {
      const n = spec.populations[name].n;
      return Array.from({ length: B }, (_, b) => external.inputs[p].subarray(b * n, (b + 1) * n));
    });
    this.scratch = this.popNames.map((name) => new Int32Array(spec.populations[name].n));
    this.rewards = new Float64Array(B);
    const popIndex = new Map(this.popNames.map((n, i) => [n, i]));
    this.incoming = this.pops.map(() => []);
    this.conns = this.connNames.map((name) => {
      const c = spec.connections[name];
      const pi = popIndex.get(c.pre) as number;
      const qi = popIndex.get(c.post) as number;
      const pre = this.pops[pi];
      const post = this.pops[qi];
      const weights = new DenseWeights({
        rows: pre[0].n,
        cols: post[0].n,
        wMin: c.w_min,
        wMax: c.w_max,
        weightDecay: c.rule.weight_decay,
        soft: c.rule.boundary === 'soft',
      });
      let rule: BatchRule;
      switch (c.rule.type) {
        case 'STDP':
          rule = new BatchStdpRule(pre, post, weights, c.rule);
          break;
        case 'MSTDP':
          rule = new BatchMstdpRule(pre, post, weights, c.rule, spec.dt);
          break;
        case 'MSTDPET':
          rule = new BatchMstdpetRule(pre, post, weights, c.rule, spec.dt);
          break;
        default:
          rule = new BatchNoOpRule(pre, post, weights, c.rule);
      }
      const conn = { pre: pi, post: qi, weights, rule };
      this.incoming[qi].push(conn);
      return conn;
    });
  }

  stepPopulations(): void {
    const { pops, incoming, views, scratch, copies } = this;
    const hasInput = this.external.hasInput;
    for (let p = 0; p < pops.length; p++) {
      const inc = incoming[p];
      for (let b = 0; b < copies; b++) {
        const pop = pops[p][b];
        // A pre population later in the order has not stepped yet: the recurrent one-step delay.
        let delivers = false;
        for (let k = 0; k < inc.length; k++) if (pops[inc[k].pre][b].spikeCount > 0) delivers = true;
        if (!delivers && pop.sparseCapable) {
          pop.stepSparse(hasInput[p] === 1 ? views[p][b] : null, scratch[p], -1);
          continue;
        }
        const cur = pop.current;
        if (hasInput[p] === 1) {
          cur.set(views[p][b]);
          pop.currentIsZero = false;
        } else if (!pop.currentIsZero) {
          cur.fill(0);
          pop.currentIsZero = true;
        }
        for (let k = 0; k < inc.length; k++) {
          const c = inc[k];
          const pre = pops[c.pre][b];
          if (pre.spikeCount > 0) {
            c.weights.deliver(pre.spikeIdx, pre.spikeCount, cur);
            pop.currentIsZero = false;
          }
        }
        pop.stepDense();
      }
    }
  }

  updateRules(reward: number): void {
    this.rewards.fill(reward);
    this.updateRulesPerCopy(this.rewards);
  }

  updateRulesPerCopy(rewards: Float64Array): void {
    const conns = this.conns;
    for (let k = 0; k < conns.length; k++) conns[k].rule.update(rewards);
  }

  spikeCount(pop: number, copy = 0): number {
    return this.pops[pop][copy].spikeCount;
  }

  readSpikes(pop: number, out: Int32Array, copy = 0): number {
    const p = this.pops[pop][copy];
    for (let k = 0; k < p.spikeCount; k++) out[k] = p.spikeIdx[k];
    return p.spikeCount;
  }

  potentials(pop: number, copy = 0): Float64Array {
    return this.pops[pop][copy].v.slice();
  }

  traces(pop: number, copy = 0): Float64Array {
    const p = this.pops[pop][copy];
    p.catchUp();
    return p.traces.slice();
  }

  refractory(pop: number, copy = 0): Float64Array {
    const p = this.pops[pop][copy];
    p.catchUp();
    return p.refrac.slice();
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

  eligibility(conn: number, copy = 0): Float64Array | null {
    return this.conns[conn].rule.eligibility(copy);
  }

  eligibilityTrace(conn: number, copy = 0): Float64Array | null {
    return this.conns[conn].rule.eligibilityTrace(copy);
  }

  resetState(): void {
    for (const copies of this.pops) for (const p of copies) p.reset();
    for (const c of this.conns) c.rule.reset();
  }

  /** Every per-neuron vector copy-major (copy b's at b * n), spikes as indices into it. */
  exportState(): ExportedState {
    const state: ExportedState = { populations: {}, connections: {} };
    this.pops.forEach((copies, i) => {
      const n = copies[0].n;
      const v = new Float64Array(this.copies * n);
      const refrac = new Float64Array(this.copies * n);
      const traces = new Float64Array(this.copies * n);
      const spikes: number[] = [];
      copies.forEach((p, b) => {
        p.catchUp();
        v.set(p.v, b * n);
        refrac.set(p.refrac, b * n);
        traces.set(p.traces, b * n);
        for (let k = 0; k < p.spikeCount; k++) spikes.push(b * n + p.spikeIdx[k]);
      });
      state.populations[this.popNames[i]] = { v, refrac, traces, spikes };
    });
    this.conns.forEach((c, i) => {
      state.connections[this.connNames[i]] = { w: f64Copy(c.weights.stored), scale: c.weights.scale, rule: c.rule.getState() };
    });
    return state;
  }

  importState(state: KernelState): void {
    runToEnd(this.importStatePausing(state));
  }

  *importStatePausing(state: KernelState): Generator<void, void> {
    this.pops.forEach((copies, i) => {
      const s = state.populations[this.popNames[i]];
      const n = copies[0].n;
      copies.forEach((p, b) => {
        p.v.set(s.v.slice(b * n, (b + 1) * n));
        p.refrac.set(s.refrac.slice(b * n, (b + 1) * n));
        p.traces.set(s.traces.slice(b * n, (b + 1) * n));
        p.setSpikes(s.spikes.filter((k) => Math.floor(k / n) === b).map((k) => k - b * n));
        p.resync();
      });
    });
    for (let i = 0; i < this.conns.length; i++) {
      const c = this.conns[i];
      const s = state.connections[this.connNames[i]];
      yield* copyPausing(c.weights.stored, s.w);
      c.weights.scale = s.scale;
      c.rule.setState(s.rule);
    }
  }

  dispose(): void {}
}
