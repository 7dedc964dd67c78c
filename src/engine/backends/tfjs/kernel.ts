/**
 * The tfjs backend: model.md transcribed literally into dense tfjs tensor
 * operations, in float32 (what tfjs computes in). It is the reference the
 * native kernels are checked against; it trades speed for being easy to audit.
 *
 * Every step's intermediate tensors live inside tf.tidy and only the new state
 * survives it; the state it replaces is disposed, so the number of live
 * tensors is the same after every step. dispose() frees them all: a network on
 * this backend must be disposed, tfjs does not garbage-collect tensors.
 *
 * Loaded only by initTfjs (platform.ts), after a tfjs platform is running.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SpikeserveError } from '../../../errors.js';
import type { ResolvedNetwork } from '../../spec-schema.js';
import { f64Copy, type ExportedState, type ExternalInputs, type Kernel, type KernelGuard, type KernelState, type NonFinite } from '../kernel.js';
import { TfjsConnection } from './connection.js';
import { keepAll, TfjsPopulation, type PopulationTensors, type Retire } from './population.js';

const FLOAT32_MAX = 3.4028234663852886e38;

/** A snapshot value beyond float32's range would become Infinity here. */
function checkSnapshotFloat32(state: KernelState): void {
  const check = (field: string, a: ArrayLike<number> | undefined, scale = 1) => {
    if (!a) return;
    for (let k = 0; k < a.length; k++) {
      if (!(Math.abs(a[k] * scale) <= FLOAT32_MAX)) {
        throw new SpikeserveError(
          'SNAPSHOT_INVALID',
          `snapshot.state.${field}[${k}]: ${a[k] * scale} is beyond float32's range (±${FLOAT32_MAX}), which the tfjs backend computes in; restore it on the native backend`,
          { field: `snapshot.state.${field}[${k}]` },
        );
      }
    }
  };
  for (const [name, p] of Object.entries(state.populations)) {
    check(`populations.${name}.v`, p.v);
    check(`populations.${name}.refrac`, p.refrac);
    check(`populations.${name}.traces`, p.traces);
  }
  for (const [name, c] of Object.entries(state.connections)) {
    check(`connections.${name}.w`, c.w, c.scale);
    check(`connections.${name}.rule.p_plus`, c.rule.p_plus);
    check(`connections.${name}.rule.p_minus`, c.rule.p_minus);
    check(`connections.${name}.rule.et`, c.rule.et, c.rule.et_scale ?? 1);
  }
}

/**
 * float32 overflows within the bounds the engine accepts (R * x alone can
 * pass 3.4e38), so every step's new state is checked for a non-finite value
 * and the step undone if there is one. The checkpoint holds the state
 * tensors themselves: while it is taken, the tensors a step replaces are
 * kept (TfjsKernel.retire) rather than freed, so nothing is cloned or copied;
 * release() frees them, rollback() puts them back and frees the step's.
 *
 * A small state is read back and scanned here: each tensor operation costs
 * tfjs's own bookkeeping whatever its size, and the reduction over the
 * state took two operations a variable and two more. Past
 * SCAN_AT_MOST_VALUES the reduction runs on the backend, where reading the
 * state back would cost more than it.
 */
const SCAN_AT_MOST_VALUES = 4096;

class TfjsGuard implements KernelGuard {
  private saved: { pops: PopulationTensors[]; conns: tf.Tensor[][] } | null = null;

  constructor(private readonly kernel: TfjsKernel) {}

  checkpoint(): void {
    this.release();
    this.saved = { pops: this.kernel.pops.map((p) => p.state()), conns: this.kernel.conns.map((c) => c.state()) };
    this.kernel.keepRetired();
  }

  /** Every state tensor installed now. */
  private installed(): tf.Tensor[] {
    const { pops, conns } = this.kernel;
    return [...pops.flatMap((p) => Object.values(p.state())), ...conns.flatMap((c) => c.state())];
  }

  findNonFinite(): NonFinite | null {
    const { pops, conns, popNames, connNames } = this.kernel;
    const vars: [string | null, string | null, string, tf.Tensor][] = [];
    pops.forEach((p, i) => { for (const [v, t] of p.variables()) vars.push([popNames[i], null, v, t]); });
    conns.forEach((c, i) => { for (const [v, t] of c.variables()) vars.push([null, connNames[i], v, t]); });
    if (vars.length === 0) return null;
    let size = 0;
    for (const v of vars) size += v[3].size;
    if (size > SCAN_AT_MOST_VALUES) {
      const allFinite = tf.tidy(() => tf.all(tf.concat(vars.map(([, , , t]) => tf.isFinite(tf.reshape(t, [-1]))))));
      const ok = allFinite.dataSync()[0] !== 0;
      allFinite.dispose();
      if (ok) return null;
    }
    for (const [population, connection, variable, t] of vars) {
      const data = t.dataSync();
      for (let k = 0; k < data.length; k++) {
        if (!Number.isFinite(data[k])) {
          const where = population !== null ? { population } : { connection: connection as string };
          return { ...where, variable, index: k, value: data[k] };
        }
      }
    }
    return null;
  }

  rollback(): void {
    const saved = this.saved;
    if (saved === null) return;
    this.saved = null;
    const keep = new Set([...saved.pops.flatMap((p) => Object.values(p)), ...saved.conns.flat()]);
    // What the step made, and what it replaced since (a tensor left as it was is the checkpoint's own).
    const made = [...this.installed(), ...this.kernel.takeRetired()].filter((t) => !keep.has(t));
    this.kernel.pops.forEach((p, i) => p.commit(saved.pops[i], keepAll));
    this.kernel.conns.forEach((c, i) => c.restore(saved.conns[i]));
    tf.dispose(made);
  }

  release(): void {
    if (this.saved === null) return;
    this.saved = null;
    const installed = new Set(this.installed());
    tf.dispose(this.kernel.takeRetired().filter((t) => !installed.has(t)));
  }
}

export class TfjsKernel implements Kernel {
  readonly name = 'tfjs';
  readonly guard: KernelGuard = new TfjsGuard(this);
  readonly pops: TfjsPopulation[];
  readonly conns: TfjsConnection[];
  /** incoming[p]: indices of the connections whose post population is p, in declaration order. */
  private readonly incoming: number[][];
  /** connPre[k]: index of connection k's pre population. */
  private readonly connPre: number[];
  readonly popNames: string[];
  readonly connNames: string[];
  /** State tensors replaced while a checkpoint is taken (TfjsGuard), kept for its rollback; null when none is. */
  private retired: tf.Tensor[] | null = null;
  /** What stepping does with the state tensors it replaces: frees them, or keeps them for the checkpoint. */
  private readonly retire: Retire = (replaced) => {
    if (this.retired === null) tf.dispose(replaced);
    else this.retired.push(...replaced);
  };

  constructor(
    spec: ResolvedNetwork,
    private readonly external: ExternalInputs,
  ) {
    this.popNames = Object.keys(spec.populations);
    this.connNames = Object.keys(spec.connections);
    const popIndex = new Map(this.popNames.map((n, i) => [n, i]));
    this.pops = [];
    this.conns = [];
    try {
      for (const name of this.popNames) this.pops.push(new TfjsPopulation(spec.populations[name], spec.dt, spec.batch_size));
      this.incoming = this.pops.map(() => []);
      this.connPre = [];
      this.connNames.forEach((name, k) => {
        const c = spec.connections[name];
        const pi = popIndex.get(c.pre) as number;
        const qi = popIndex.get(c.post) as number;
        this.conns.push(new TfjsConnection(c, this.pops[pi], this.pops[qi], spec.dt));
        this.connPre.push(pi);
        this.incoming[qi].push(k);
      });
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /**
   * Model.md "One network step", part 1. Populations step in declaration
   * order; a connection delivers its pre population's most recent spikes,
   * this step's if that population already stepped, the previous step's
   * otherwise (the recurrent one-step delay).
   */
  stepPopulations(): void {
    const { pops, conns, incoming, connPre } = this;
    const { inputs, hasInput } = this.external;
    const next = tf.tidy(() => {
      const spikes: tf.Tensor[] = pops.map((p) => p.s);
      const out: PopulationTensors[] = [];
      for (let p = 0; p < pops.length; p++) {
        const pop = pops[p];
        let x: tf.Tensor = pop.zero;
        if (hasInput[p] === 1) {
          // tfjs may keep a reference to a typed array it is given; the staging
          // buffer is reused only after this tidy has disposed the tensor.
          pop.inputBuffer.set(inputs[p]);
          x = tf.tensor(pop.inputBuffer, pop.shape);
        }
        for (const k of incoming[p]) x = tf.add(x, conns[k].deliver(spikes[connPre[k]]));
        const st = pop.step(x);
        spikes[p] = st.s;
        out.push(st);
      }
      return out;
    });
    for (let p = 0; p < pops.length; p++) pops[p].commit(next[p], this.retire);
  }

  /** From now on the state tensors a step replaces are kept, until takeRetired(). */
  keepRetired(): void {
    this.retired = [];
  }

  /** The state tensors replaced since keepRetired(); they are freed again from now on. */
  takeRetired(): tf.Tensor[] {
    const retired = this.retired ?? [];
    this.retired = null;
    return retired;
  }

  /** Part 2 for a batch: rewards[b] is copy b's reward. */
  updateRulesPerCopy(rewards: Float64Array): void {
    for (const c of this.conns) c.update(0, rewards, this.retire);
  }

  /** Part 2: every connection's rule in declaration order. */
  updateRules(reward: number): void {
    for (const c of this.conns) c.update(reward, null, this.retire);
  }

  spikeCount(pop: number, copy = 0): number {
    return this.pops[pop].spikes(copy).length;
  }

  readSpikes(pop: number, out: Int32Array, copy = 0): number {
    const idx = this.pops[pop].spikes(copy);
    out.set(idx);
    return idx.length;
  }

  potentials(pop: number, copy = 0): Float64Array {
    return copyOf(this.pops[pop].v, this.pops[pop].n, copy);
  }

  traces(pop: number, copy = 0): Float64Array {
    return copyOf(this.pops[pop].traces, this.pops[pop].n, copy);
  }

  refractory(pop: number, copy = 0): Float64Array {
    return copyOf(this.pops[pop].refrac, this.pops[pop].n, copy);
  }

  weights(conn: number): Float64Array {
    return this.conns[conn].weights();
  }

  setWeights(conn: number, w: Float64Array): void {
    this.conns[conn].setWeights(w);
  }

  eligibility(conn: number, copy = 0): Float64Array | null {
    return this.conns[conn].eligibility(copy);
  }

  eligibilityTrace(conn: number, copy = 0): Float64Array | null {
    return this.conns[conn].eligibilityTrace(copy);
  }

  resetState(): void {
    for (const p of this.pops) p.reset();
    for (const c of this.conns) c.resetRule();
  }

  exportState(): ExportedState {
    const state: ExportedState = { populations: {}, connections: {} };
    this.pops.forEach((p, i) => {
      state.populations[this.popNames[i]] = {
        v: f64Copy(p.v.dataSync()),
        refrac: f64Copy(p.refrac.dataSync()),
        traces: f64Copy(p.traces.dataSync()),
        spikes: Array.from(p.spikesAll()),
      };
    });
    this.conns.forEach((c, i) => {
      state.connections[this.connNames[i]] = c.exportState();
    });
    return state;
  }

  importState(state: KernelState): void {
    checkSnapshotFloat32(state);
    this.pops.forEach((p, i) => {
      const s = state.populations[this.popNames[i]];
      p.load(s.v, s.refrac, s.traces, s.spikes);
    });
    this.conns.forEach((c, i) => c.importState(state.connections[this.connNames[i]]));
  }

  dispose(): void {
    this.guard.release();
    for (const p of this.pops) p.dispose();
    for (const c of this.conns) c.dispose();
  }
}

/** Copy `copy`'s entries of a state tensor of `n` per copy, in float64. */
function copyOf(t: tf.Tensor, n: number, copy: number): Float64Array {
  return Float64Array.from(t.dataSync().subarray(copy * n, (copy + 1) * n));
}

export function createTfjsKernel(spec: ResolvedNetwork, external: ExternalInputs): Kernel {
  return new TfjsKernel(spec, external);
}
