/**
 * The replies that read a session's network: summary and detail, state,
 * weights (as [rows][cols], or row-major copies for replies written in
 * slices), and the view of one step that 'step' listeners get. Read only:
 * the session calls them inside its commands, so none sees half a run.
 */
import type { Network, ResolvedNetwork } from '../engine/index.js';
import { connectionShape, VALUES_PER_PAUSE } from '../engine/index.js';
import type { SessionDetail, SessionLimitsView, SessionSummary } from '../api/sessions.js';
import type { AllWeights, ConnectionWeights, SessionState, WeightMatrices, WeightMatrix } from '../api/state.js';
import { SpikeserveError } from '../errors.js';
import type { SpikeStats } from './spike-stats.js';

/**
 * The network right after one step, for 'step' listeners. Valid only during
 * the listener call: the next step overwrites what it reads.
 */
export interface StepView {
  readonly sessionId: string;
  /** The session's step count after this step. */
  readonly step: number;
  /** True if this step's rule update waits for a reward (deferReward on the call's last step). */
  readonly pending: boolean;
  /** `copy`: in a batch, which copy's (default 0). */
  spikes(population: string, copy?: number): number[];
  potentials(population: string, copy?: number): number[];
  weights(connection: string): number[][];
}

export function stepView(net: Network, sessionId: string, pending: boolean): StepView {
  return {
    sessionId,
    step: net.stepCount,
    pending,
    spikes: (pop, copy = 0) => net.spikes(pop, copy),
    potentials: (pop, copy = 0) => Array.from(net.potentials(pop, copy)),
    weights: (conn) => net.weights(conn),
  };
}

/** What a summary says of the session beside its network. */
export interface SummaryFields {
  id: string;
  name: string | null;
  createdAt: number;
  lastUsedAt: number;
  /** Deleted after this long without a request (0: never). */
  expiryMs: number;
}

export function summaryOf(net: Network, s: SummaryFields): SessionSummary {
  const populations: Record<string, number> = {};
  net.populationNames.forEach((p, i) => (populations[p] = net.sizes[i]));
  const connections: SessionSummary['connections'] = {};
  for (const [name, c] of Object.entries(net.spec.connections)) connections[name] = { pre: c.pre, post: c.post, rule: c.rule.type };
  return {
    id: s.id,
    name: s.name,
    createdAt: new Date(s.createdAt).toISOString(),
    lastUsedAt: new Date(s.lastUsedAt).toISOString(),
    expiresAt: s.expiryMs > 0 ? new Date(s.lastUsedAt + s.expiryMs).toISOString() : null,
    loaded: true,
    step: net.stepCount,
    pending: net.pending,
    populations,
    connections,
  };
}

/** The summary (taken last) plus spec, limits and statistics, pausing (yield) while the weight statistics are taken. */
export function* detailOf(net: Network, summary: () => SessionSummary, stats: SpikeStats, limits: SessionLimitsView): Generator<void, SessionDetail> {
  const spikes: SessionDetail['stats']['spikes'] = {};
  net.populationNames.forEach((p, i) => {
    const { total, rate } = stats.of(i, net.sizes[i]);
    spikes[p] = { total, lastStep: net.spikeCount(i), rate };
  });
  const weights: SessionDetail['stats']['weights'] = {};
  for (const c of net.connectionNames) weights[c] = yield* weightStats(yield* net.weightsFlatPausing(c));
  const network: ResolvedNetwork = { ...net.spec, connections: {} };
  for (const [name, c] of Object.entries(net.spec.connections)) {
    const { w: _w, ...rest } = c;
    network.connections[name] = rest;
  }
  return { ...summary(), seed: net.seed, backend: net.backend, network, limits, stats: { spikes, weights } };
}

/** Pausing (yield) every VALUES_PER_PAUSE weights; the sums run in the same order as in one go, so the figures are the same. */
function* weightStats(w: Float64Array): Generator<void, { min: number; max: number; mean: number; std: number }> {
  if (w.length === 0) return { min: 0, max: 0, mean: 0, std: 0 };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let from = 0; from < w.length; from += VALUES_PER_PAUSE) {
    const to = Math.min(w.length, from + VALUES_PER_PAUSE);
    for (let i = from; i < to; i++) {
      const x = w[i];
      if (x < min) min = x;
      if (x > max) max = x;
      sum += x;
    }
    yield;
  }
  const mean = sum / w.length;
  let sq = 0;
  for (let from = 0; from < w.length; from += VALUES_PER_PAUSE) {
    const to = Math.min(w.length, from + VALUES_PER_PAUSE);
    for (let i = from; i < to; i++) sq += (w[i] - mean) ** 2;
    yield;
  }
  return { min, max, mean, std: Math.sqrt(sq / w.length) };
}

/**
 * The copies a reply is of: every copy by default, or `wanted` (checked, in
 * its order); null for a network of one copy, whose replies have no copy
 * level. `field` names the selection in errors.
 */
export function copiesOf(net: Network, wanted: readonly number[] | undefined, field: string): number[] | null {
  if (net.copies === 1) {
    if (wanted?.some((b) => b !== 0)) throw new SpikeserveError('INPUT_INVALID', `${field}: this network has one copy (batch_size 1): leave out ${field}, or ask for [0]`, { field });
    return null;
  }
  const copies = wanted ? wanted.slice() : Array.from({ length: net.copies }, (_, b) => b);
  copies.forEach((b, i) => net.checkCopy(b, `${field}[${i}]`));
  return copies;
}

/** The network's state; a batch's per-copy values for `copies` (copiesOf), one per copy. */
export function stateOf(net: Network, copies: readonly number[] | null = null): SessionState {
  const each = <T>(read: (copy: number) => T): T | T[] => (copies === null ? read(0) : copies.map(read));
  const populations: SessionState['populations'] = {};
  for (const p of net.populationNames) {
    populations[p] = {
      v: each((b) => Array.from(net.potentials(p, b))),
      traces: each((b) => Array.from(net.traces(p, b))),
      refractory: each((b) => Array.from(net.refractory(p, b))),
      spikes: each((b) => net.spikes(p, b)),
    };
  }
  const connections: SessionState['connections'] = {};
  for (const c of net.connectionNames) {
    const rule = net.spec.connections[c].rule.type;
    // Null for a rule without one, whichever copies are asked for.
    const eligibility = net.eligibility(c) === null ? null : each((b) => net.eligibility(c, b)!);
    const trace = net.eligibilityTrace(c) === null ? null : each((b) => net.eligibilityTrace(c, b)!);
    connections[c] = { rule, eligibility, ...(trace ? { eligibility_trace: trace } : {}) };
  }
  return { step: net.stepCount, pending: net.pending, ...(copies === null ? {} : { copies: copies.slice() }), populations, connections };
}

/** One connection's weights as [rows][cols]; throws CONNECTION_NOT_FOUND. */
export function connectionWeights(net: Network, connection: string): ConnectionWeights {
  const weights = net.weights(connection);
  const c = net.spec.connections[connection];
  return { connection, pre: c.pre, post: c.post, w_min: c.w_min, w_max: c.w_max, step: net.stepCount, weights };
}

export function allWeights(net: Network): AllWeights {
  const weights: Record<string, number[][]> = {};
  for (const c of net.connectionNames) weights[c] = net.weights(c);
  return { step: net.stepCount, weights };
}

/** [rows][cols] views of a row-major matrix, written as JSON rows. */
function rowsOf(m: WeightMatrix): Float64Array[] {
  const out = new Array<Float64Array>(m.rows);
  for (let i = 0; i < m.rows; i++) out[i] = m.values.subarray(i * m.cols, (i + 1) * m.cols);
  return out;
}

/** Every connection's weights (allWeights' reply) as views of row-major copies, for JSON written in slices. */
export function allWeightsOf(w: WeightMatrices): { step: number; weights: Record<string, Float64Array[]> } {
  const weights: Record<string, Float64Array[]> = {};
  for (const m of w.matrices) weights[m.name] = rowsOf(m);
  return { step: w.step, weights };
}

/** One connection's weights and bounds (connectionWeights' reply) as views of a row-major copy, for JSON written in slices. */
export function connectionWeightsOf(w: WeightMatrices) {
  const m = w.matrices[0];
  return { connection: m.name, pre: m.pre, post: m.post, w_min: m.w_min, w_max: m.w_max, step: w.step, weights: rowsOf(m) };
}

/** Row-major copies of the named connections' weights, pausing (yield) while they are made. */
export function* weightMatrices(net: Network, names: readonly string[]): Generator<void, WeightMatrices> {
  const matrices: WeightMatrices['matrices'] = [];
  for (const name of names) {
    const values = yield* net.weightsFlatPausing(name);
    const c = net.spec.connections[name];
    const [rows, cols] = connectionShape(net.spec, c);
    matrices.push({ name, index: net.connectionNames.indexOf(name), pre: c.pre, post: c.post, w_min: c.w_min, w_max: c.w_max, rows, cols, values });
  }
  return { step: net.stepCount, matrices };
}
