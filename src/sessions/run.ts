/**
 * One step call in progress: checked in full before its first step, then run
 * in slices of about STEP_SLICE_MS (with other requests served between
 * them), in chunks sized so that the clock is read about once a millisecond;
 * it gathers the spikes the reply asked for, and builds the reply.
 */
import { performance } from 'node:perf_hooks';
import type { Network, RunPlan } from '../engine/index.js';
import { SpikeserveError } from '../errors.js';
import type { StepBody, StepResult } from '../api/step.js';
import { copiesOf } from './views.js';

export interface RunLimits {
  maxStepsPerCall: number;
  maxSpikeRecordsPerCall: number;
}

/** What a session's step calls all run with. */
export interface RunContext {
  limits: RunLimits;
  /** Neurons plus synapses: the cost of one step, for sizing the first chunk. */
  stepCost: number;
  /** Every population's index, in order: what a reply covers unless return.populations says otherwise. */
  allPopulations: readonly number[];
  /** Room for one population's spikes (as long as the largest). */
  spikeBuf: Int32Array;
  /** Runs after each step, once its spikes are gathered. */
  stepped: (run: StepRun, t: number) => void;
}

export function inputError(field: string, message: string): SpikeserveError {
  return new SpikeserveError('INPUT_INVALID', `${field}: ${message}`, { field });
}

export class StepRun {
  readonly plan: RunPlan;
  /** An update was pending when the run began: its first step completes it with reward 0. */
  readonly completesPending: boolean;
  /** Steps of the plan run so far. */
  done = 0;
  private next = 0;
  private readonly pops: readonly number[];
  /** The copies the reply is of; null without a batch (the reply then has no copy level). */
  private readonly copies: number[] | null;
  /** [population][copy][step]: fired indices. */
  private readonly perStep: number[][][][] | null;
  /** [population][copy]: spikes per neuron. */
  private readonly counts: Uint32Array[][] | null;
  private readonly potentials: boolean;
  private readonly weights: boolean;
  /** Steps per runSlice call, adapted so that a chunk takes about a millisecond. */
  private chunk: number;
  private readonly context: RunContext;

  /** Everything is checked here, before the first step: a refused call changes nothing. */
  constructor(
    private readonly net: Network,
    body: StepBody,
    options: RunContext,
  ) {
    const plan = net.prepareRun(body, options.limits.maxStepsPerCall);
    const ret = body.return ?? {};
    const format = ret.spikes ?? 'steps';
    let pops: readonly number[];
    if (ret.populations) {
      pops = ret.populations.map((name, i) => {
        const p = net.populationNames.indexOf(name);
        if (p < 0) throw inputError(`return.populations[${i}]`, `unknown population "${name}"; this network has ${net.populationNames.join(', ')}`);
        return p;
      });
    } else {
      pops = options.allPopulations;
    }
    const copies = copiesOf(net, ret.copies, 'return.copies');
    const copyCount = copies?.length ?? 1;
    if (format === 'steps') {
      const neurons = pops.reduce((a, p) => a + net.sizes[p], 0) * copyCount;
      const records = plan.steps * neurons;
      const max = options.limits.maxSpikeRecordsPerCall;
      if (records > max) {
        throw new SpikeserveError(
          'LIMIT_EXCEEDED',
          `return.spikes: ${plan.steps} steps x ${neurons} neurons could return ${records} spike records, over the limit of ${max} (MAX_SPIKE_RECORDS_PER_CALL); ask for return.spikes "counts" or "none", fewer return.populations, or fewer steps per call`,
          { field: 'return.spikes', limit: 'maxSpikeRecordsPerCall', value: records, max },
        );
      }
    }
    this.plan = plan;
    this.pops = pops;
    this.copies = copies;
    // Plain loops: Array.from({ length }) and a closure per population cost more than the one step of a single-step call.
    let perStep: number[][][][] | null = null;
    let counts: Uint32Array[][] | null = null;
    if (format === 'steps') {
      perStep = new Array<number[][][]>(pops.length);
      for (let k = 0; k < pops.length; k++) {
        const lists = new Array<number[][]>(copyCount);
        for (let q = 0; q < copyCount; q++) lists[q] = [];
        perStep[k] = lists;
      }
    } else if (format === 'counts') {
      counts = new Array<Uint32Array[]>(pops.length);
      for (let k = 0; k < pops.length; k++) {
        const n = net.sizes[pops[k]];
        const perCopy = new Array<Uint32Array>(copyCount);
        for (let q = 0; q < copyCount; q++) perCopy[q] = new Uint32Array(n);
        counts[k] = perCopy;
      }
    }
    this.perStep = perStep;
    this.counts = counts;
    this.potentials = ret.potentials === true;
    this.weights = ret.weights === true;
    // A first guess (a step costs roughly 50 neurons' or synapses' worth of
    // fixed overhead plus its size); advance() corrects it after one chunk.
    this.chunk = Math.max(1, Math.floor(100_000 / (options.stepCost + 50)));
    this.completesPending = net.pending;
    this.context = options;
  }

  /** Step `t` of the plan leaves its update pending (deferReward on the call's last step). */
  pendingAfter(t: number): boolean {
    return t === this.plan.steps - 1 && this.plan.deferReward;
  }

  /** The reward step `t`'s update used; a batch's, one per copy. */
  rewardOf(t: number): number | number[] {
    const perCopy = this.plan.copyRewards;
    if (perCopy !== null) {
      const B = this.net.copies;
      return Array.from(perCopy.subarray(t * B, (t + 1) * B));
    }
    return this.plan.rewards ? this.plan.rewards[t] : this.plan.reward;
  }

  /** Runs the plan until it is done (true) or this slice's time (`sliceMs`) is up (false). */
  advance(sliceMs: number): boolean {
    const { plan } = this;
    // The clock is read once per chunk, and not at all after the last one (a single-step call reads it once).
    let t0 = performance.now();
    const sliceEnd = t0 + sliceMs;
    // Made here, not kept on the run: kept on it, it made every step call
    // measurably dearer (docs/benchmarks.md, sessions layer split).
    const onStep = (t: number) => {
      this.gather(t, this.context.spikeBuf);
      this.context.stepped(this, t);
    };
    for (;;) {
      const from = this.next;
      const to = Math.min(plan.steps, from + this.chunk);
      this.net.runSlice(plan, from, to, onStep);
      this.next = to;
      if (to >= plan.steps) return true;
      const t1 = performance.now();
      // Aim for about a millisecond a chunk, so the clock is read rarely but the slice ends on time.
      const stepsPerMs = (to - from) / Math.max(t1 - t0, 0.001);
      this.chunk = Math.max(1, Math.min(this.chunk * 4, Math.floor(stepsPerMs)));
      if (t1 >= sliceEnd) return false;
      t0 = t1;
    }
  }

  private gather(t: number, spikeBuf: Int32Array): void {
    this.done = t + 1;
    const net = this.net;
    const copies = this.copies;
    const copyCount = copies?.length ?? 1;
    if (this.perStep) {
      for (let k = 0; k < this.pops.length; k++) {
        for (let q = 0; q < copyCount; q++) {
          const c = net.readSpikes(this.pops[k], spikeBuf, copies === null ? 0 : copies[q]);
          const list = new Array<number>(c);
          for (let i = 0; i < c; i++) list[i] = spikeBuf[i];
          this.perStep[k][q].push(list);
        }
      }
    } else if (this.counts) {
      for (let k = 0; k < this.pops.length; k++) {
        for (let q = 0; q < copyCount; q++) {
          const c = net.readSpikes(this.pops[k], spikeBuf, copies === null ? 0 : copies[q]);
          const counts = this.counts[k][q];
          for (let i = 0; i < c; i++) counts[spikeBuf[i]]++;
        }
      }
    }
  }

  /** The reply, once the plan is done. */
  result(): StepResult {
    const net = this.net;
    const out: StepResult = { step: net.stepCount, steps: this.plan.steps, pending: net.pending };
    const perStep = this.perStep;
    const counts = this.counts;
    const copies = this.copies;
    if (copies !== null) out.copies = copies;
    if (perStep) {
      const spikes: NonNullable<StepResult['spikes']> = {};
      // A batch's: per step, one list per copy ([steps][copies][indices]).
      this.pops.forEach((p, k) => (spikes[net.populationNames[p]] = copies === null ? perStep[k][0] : perStep[k][0].map((_, t) => perStep[k].map((c) => c[t]))));
      out.spikes = spikes;
    } else if (counts) {
      const spikeCounts: NonNullable<StepResult['spikeCounts']> = {};
      this.pops.forEach((p, k) => (spikeCounts[net.populationNames[p]] = copies === null ? Array.from(counts[k][0]) : counts[k].map((c) => Array.from(c))));
      out.spikeCounts = spikeCounts;
    }
    if (this.potentials) {
      out.potentials = {};
      for (const p of this.pops) {
        const name = net.populationNames[p];
        out.potentials[name] = copies === null ? Array.from(net.potentials(name)) : copies.map((b) => Array.from(net.potentials(name, b)));
      }
    }
    if (this.weights) {
      out.weights = {};
      for (const c of net.connectionNames) out.weights[c] = net.weights(c);
    }
    return out;
  }

  /**
   * A step of the call was refused (STEP_OVERFLOW; the network undid it):
   * the steps before it stand. The error says how many ran; `ranCall` is
   * those steps as a call of their own, to log (null if none ran).
   */
  stoppedAt(e: unknown, body: StepBody): { error: unknown; ranCall: StepBody | null } {
    if (!(e instanceof SpikeserveError) || e.code !== 'STEP_OVERFLOW') return { error: e, ranCall: null };
    const ran = this.done;
    const stood = ran > 0 ? `; the call's first ${ran} step${ran === 1 ? '' : 's'} ran and stand (step ${this.net.stepCount})` : '';
    return {
      error: new SpikeserveError('STEP_OVERFLOW', `step ${ran + 1} of this call: ${e.message}${stood}`, { ...e.details, stepsRun: ran }),
      ranCall: ran > 0 ? truncateStepBody(body, ran, this.net.copies > 1) : null,
    };
  }
}

/**
 * The first `k` steps of a step call, as a call of their own (what ran when
 * step k + 1 was refused). In a batch a list one level deeper is per step:
 * [steps][copies][n] inputs, [steps][copies] rewards.
 */
function truncateStepBody(body: StepBody, k: number, batch: boolean): StepBody {
  const nested = (x: unknown): boolean => Array.isArray(x) && x.length > 0 && typeof x[0] === 'object' && x[0] !== null;
  const perStep = (x: unknown) => nested(x) && (!batch || nested((x as unknown[])[0]));
  const inputs = body.inputs ? Object.fromEntries(Object.entries(body.inputs).map(([name, x]) => [name, perStep(x) ? (x as unknown[]).slice(0, k) : x])) : body.inputs;
  const r = body.reward as unknown;
  const rewardPerStep = batch ? nested(r) : Array.isArray(r) || ArrayBuffer.isView(r);
  const reward = rewardPerStep ? (r as number[]).slice(0, k) : body.reward;
  return { steps: k, inputs: inputs as StepBody['inputs'], reward, deferReward: false };
}
