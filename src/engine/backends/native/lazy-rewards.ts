/**
 * MSTDPET's rewards applied row by row, when a row is next used, instead of
 * a pass over every weight at every rewarded step (hard bounds without
 * weight decay; docs/engine.md, "MSTDPET's lazy rewards").
 *
 * With the post spikes' columns pending (trace-columns.ts), synapse (i, j)'s
 * trace at a rewarded step s is T[i][j] + F[i] * q[j](s): T and F change
 * only when row i takes its own eligibility (the step after a spike of pre
 * neuron i), and only q moves between. The rewarded step moves the weight by
 * g_s * (T + F * q[j](s)), g_s = lr[0] * dt * r * the trace's scale. So,
 * with G the sum of this epoch's g_s and H[j] the sum of g_s * q[j](s), a
 * row that last took its rewards at G0, H0 holds its weight u then, and its
 * weight is now u + T * (G - G0) + F * (H[j] - H0[j]), where no bound acted
 * between.
 *
 * Whether a bound could have acted: from the row's last update, at the
 * epoch's rewarded step a, synapse (i, j)'s walk is the sum of g_s * (e +
 * F * (q[j](s) - q[j](a))), e = T + F * q[j](a) its trace then. With M the
 * largest |sum of g_s| over the walk's first steps, the first part stays
 * within M * |e|, the second within 2 M |F| (q[j] now - q[j](a)) by Abel's
 * summation, as q only grows within an epoch: b, the walk's reach. A weight
 * that was b (and a margin for rounding) inside both bounds never met one.
 * The row's pass tests a bound of the whole row first, M * (max |T| + 2 |F|
 * max q), which b never exceeds and which costs no read of q then; the few
 * weights it lists are tested against their own b. Any that fail both are
 * replayed step by step, exactly as the dense update would have gone, from
 * the value of g_s and of q at every rewarded step of the epoch (kept for
 * that, in a ring of slots: a row whose last update is about to leave the
 * ring takes its rewards first).
 *
 * A row is brought up to date where it is read already: delivery stores
 * its weights as it reads them, and the step after its neuron's spike,
 * before the trace's row and its factor change, stores them again if a
 * reward came between (if none did, the stored weights are the weights,
 * whatever the factor). A row with one rewarded step to take, q unchanged
 * since (that step after a spike, under a reward every step), takes it as
 * the dense update would: one clamped addition a weight, no bound to test.
 * Everything that reads or writes the whole matrix, changes the trace or q
 * as a whole (the pending columns taken in, the trace's scale folded, a
 * reset, a restored state), and a full epoch (EPOCH_SLOTS rounds of the
 * ring, or the trace's scale fallen by EPOCH_SCALE_DROP, which bounds how
 * much the sums G and H lose to rounding against a late row's share) first brings
 * every row up to date and starts a new epoch. The weights are those of the
 * dense update up to rounding (one rounded sum for many rounded additions);
 * the JavaScript loops and the WebAssembly kernels give the same bits.
 */
import type { ScaledTrace } from './scaled-trace.js';
import type { WasmWeights } from './wasm-weights.js';

/** Rewarded steps the history keeps at most (fewer for small matrices: q and H at each cost 16 bytes a column). */
const MAX_SLOTS = 256;

/** Rewarded steps the history of a connection with `rows` pre neurons keeps, a ring. */
export function lazyRewardSlots(rows: number): number {
  return Math.max(8, Math.min(MAX_SLOTS, rows >> 1));
}
/** An epoch's rewarded steps at most, in slots of the history (which bounds how far G and H grow). */
const EPOCH_SLOTS = 16;
/**
 * Rows whose last update is about to leave the history are brought up to
 * date this many rewarded steps ahead, in one look over the rows.
 */
const AGE_AHEAD = 16;
/** An epoch ends once the trace's scale has fallen this far since its first reward. */
const EPOCH_SCALE_DROP = 2 ** -6;
/** What a weight must keep from a bound, beyond its walk's reach, to skip its replay: this much of w_max - w_min. */
const ROUNDING_MARGIN = 2 ** -20;

/** What LazyRewards works on: the matrix (the rows' u), the trace and its pending columns, and scratch. */
export interface LazyRewardParts {
  rows: number;
  cols: number;
  wMin: number;
  wMax: number;
  /** The weights as stored: row i holds u (see above). */
  u: Float64Array;
  /** The trace's stored values T. */
  trace: Float64Array;
  /** The pending columns q. */
  q: Float64Array;
  /** The rows' factors F. */
  factors: Float64Array;
  /** H, one value per column. */
  h: Float64Array;
  /** One row of real weights (scratch). */
  real: Float64Array;
  /** Columns that need replaying (scratch). */
  fails: Int32Array;
  /** [G - G0, the row's bound, the row's factor, w_min, w_max, the margin for rounding, M] for one row. */
  params: Float64Array;
  /** Per row, max |T[i][j]|, kept as the trace's rows change while the rewards are applied here. */
  rowMax: Float64Array;
  /** Takes rowMax afresh for every row. */
  rowBounds: () => void;
  /** g_s of each rewarded step, a ring of lazyRewardSlots(rows) slots (step s in slot s % slots). */
  g: Float64Array;
  /**
   * q at each rewarded step, in the same ring, row-major (slot k's at
   * k * cols): a rewarded step writes one contiguous row; the reads (a
   * listed weight's q then, a replay's steps) are few.
   */
  qAt: Float64Array;
  /**
   * H before the epoch's first rewarded step (zeros, row 0) and after each,
   * row-major, a ring of slots + 1 rows (after step s in row (s + 1) %
   * (slots + 1)).
   */
  hAt: Float64Array;
  /** The WebAssembly kernels over the same memory, or null for the JavaScript loops. */
  wasm: WasmWeights | null;
}

export class LazyRewards {
  private readonly p: LazyRewardParts;
  private readonly maxRewards: number;
  /** g_s, q and H at each rewarded step of the epoch (LazyRewardParts). */
  private readonly g: Float64Array;
  private readonly qAt: Float64Array;
  private readonly hAt: Float64Array;
  /** Per row: G and the rewarded steps so far when it was last brought up to date, and the factor of its trace since. */
  private readonly rowG: Float64Array;
  private readonly rowF: Float64Array;
  private readonly rowAt: Int32Array;
  private G = 0;
  /** Rewarded steps in this epoch; step s's g and q are in slot s % maxRewards, H after it in row (s + 1) % (maxRewards + 1). */
  private rewards = 0;
  /** The trace's scale at the epoch's first reward. */
  private epochScale = 1;
  /** The largest q (q only grows until the pending columns restart). */
  private qMax = 0;
  /** Whether columns were added to q since the last rewarded step. */
  private qMoved = false;
  /**
   * Whether the rule applies its rewards here this step (or has some
   * pending): only then are the rows' bounds on the trace kept, else they
   * are recomputed at the next reward.
   */
  active = false;
  private rowMaxStale = true;

  constructor(parts: LazyRewardParts) {
    this.p = parts;
    const { rows, cols } = parts;
    this.maxRewards = lazyRewardSlots(rows);
    this.g = parts.g;
    this.qAt = parts.qAt;
    this.hAt = parts.hAt;
    if (this.g.length < this.maxRewards || this.qAt.length < this.maxRewards * cols || this.hAt.length < (this.maxRewards + 1) * cols) throw new Error('lazy rewards need room for their epoch');
    this.rowG = new Float64Array(rows);
    this.rowF = new Float64Array(rows);
    this.rowAt = new Int32Array(rows);
    parts.params[3] = parts.wMin;
    parts.params[4] = parts.wMax;
    // The closed form's rounding must not carry a weight past a bound a replay would have clamped it to.
    parts.params[5] = (parts.wMax - parts.wMin) * ROUNDING_MARGIN;
    this.restart();
  }

  /** Whether any row has rewards to take. */
  get pending(): boolean {
    return this.rewards > 0;
  }

  /**
   * Before a step changes anything: a full epoch (or one whose trace's
   * scale has fallen far) is brought up to date. (Doubles come in objects
   * and arrays here: a double argument would be boxed.)
   */
  beforeStep(trace: ScaledTrace): void {
    if (this.rewards > 0 && (this.rewards === EPOCH_SLOTS * this.maxRewards || trace.scale < this.epochScale * EPOCH_SCALE_DROP)) this.flushAll();
  }

  /** A rewarded step, g = params[slot] = lr[0] * dt * r * the trace's scale, after the step's columns were added to q. */
  reward(params: Float64Array, slot: number, trace: ScaledTrace): void {
    const g = params[slot];
    const { q, h, cols } = this.p;
    const r = this.rewards;
    if (r === 0) this.epochScale = trace.scale;
    if (this.rowMaxStale) this.allRowsChanged();
    const m = this.maxRewards;
    // Step r takes the slots of step r - m: the rows last brought up to
    // date then (or, looking ahead, up to AGE_AHEAD steps later) first take
    // their rewards. Most rows are brought up to date by their own spikes
    // long before.
    const oldest = r - m;
    const ahead = Math.min(AGE_AHEAD, m);
    if (oldest >= 0 && oldest % ahead === 0) {
      const { rowAt } = this;
      for (let i = 0; i < rowAt.length; i++) if (rowAt[i] < oldest + ahead) this.takeRewards(i);
    }
    const at = r % m;
    const hRow = (r + 1) % (m + 1);
    this.g[at] = g;
    this.G += g;
    if (this.p.wasm !== null) {
      this.p.wasm.lazyReward(at, hRow);
    } else {
      const { qAt, hAt } = this;
      const base = hRow * cols;
      const qBase = at * cols;
      for (let j = 0; j < cols; j++) {
        const x = q[j];
        const y = h[j] + g * x;
        h[j] = y;
        qAt[qBase + j] = x;
        hAt[base + j] = y;
      }
    }
    this.rewards = r + 1;
    this.qMoved = false;
  }

  /**
   * Row i's real weights, with `commit` stored, else the state unchanged;
   * returns whether they are in the scratch row `real` (else the stored row
   * holds them: a row that has taken every reward, or one brought up to
   * date by a single step with `commit`).
   */
  private rowReal(i: number, commit: boolean): boolean {
    const { params, wasm, cols } = this.p;
    if (this.rowAt[i] === this.rewards) return false;
    // A row whose trace is 0 (a pre neuron that has not fired) takes no
    // change from any reward: the dense update keeps such weights as they are.
    if (this.p.rowMax[i] === 0 && this.rowF[i] === 0) return false;
    params[2] = this.rowF[i];
    const from = this.rowAt[i];
    const m = this.maxRewards;
    if (from === this.rewards - 1 && !this.qMoved) {
      // One rewarded step since, with q as it was then (the step after a
      // pre spike, under a reward every step): that step itself, as the
      // dense update goes, costs less than the closed form and its bounds.
      params[0] = this.g[from % m];
      if (wasm !== null) wasm.lazyOne(i, commit);
      else lazyOneJs(this.p, i * cols, commit);
      return !commit;
    }
    params[0] = this.G - this.rowG[i];
    // M, the largest |G - G0| since the row's last update; the row's bound, M (max |T| + 2 |F| max q), is
    // never less than a walk's reach (see above).
    const { g } = this;
    let sum = 0;
    let most = 0;
    for (let s = from, k = from % m; s < this.rewards; s++, k = k + 1 === m ? 0 : k + 1) {
      sum += g[k];
      const a = Math.abs(sum);
      if (a > most) most = a;
    }
    params[1] = most * (this.p.rowMax[i] + 2 * Math.abs(params[2]) * this.qMax) + params[5];
    params[6] = most;
    if (wasm !== null) {
      const n = wasm.lazyRow(i, from % (m + 1), commit);
      if (n > 0) wasm.lazyReplay(i, from % m, m, this.rewards - from, n, commit);
      return true;
    }
    const listed = lazyRowJs(this.p, i * cols, (from % (m + 1)) * cols, commit);
    if (listed === 0) return true;
    const n = this.ownBounds(i, listed, commit);
    const { fails, u, real } = this.p;
    for (let k = 0; k < n; k++) {
      const j = fails[k];
      this.replay(i, j);
      if (commit) u[i * cols + j] = real[j];
    }
    return true;
  }

  /**
   * Of the `listed` columns of row i that lazyRowJs listed, keeps in `fails`
   * those whose own bound fails too, and returns how many; with `commit`,
   * stores the others (the kernel `lazyReplay` does the same first).
   */
  private ownBounds(i: number, listed: number, commit: boolean): number {
    const { u, trace, q, fails, real, params, cols } = this.p;
    const from = this.rowAt[i];
    const wf = params[2];
    const lo = params[3];
    const hi = params[4];
    const margin = params[5];
    const m = params[6];
    const wf2 = 2 * Math.abs(wf);
    const base = i * cols;
    let n = 0;
    for (let k = 0; k < listed; k++) {
      const j = fails[k];
      const w0 = u[base + j];
      const q0 = this.qAt[(from % this.maxRewards) * cols + j];
      const b = m * (Math.abs(trace[base + j] + wf * q0) + wf2 * (q[j] - q0)) + margin;
      if (w0 - b < lo || w0 + b > hi) fails[n++] = j;
      else if (commit) u[base + j] = real[j];
    }
    return n;
  }

  /**
   * Synapse (i, j) step by step over the rewarded steps since row i was
   * last brought up to date, as the dense update goes; the kernel
   * `lazyReplay` does the same operations, four synapses at a time.
   */
  private replay(i: number, j: number): void {
    const { u, trace, real, cols, wMin, wMax } = this.p;
    const k = i * cols + j;
    const t = trace[k];
    const f = this.rowF[i];
    const from = this.rowAt[i];
    const { g, qAt } = this;
    let w = u[k];
    const m = this.maxRewards;
    for (let s = from, slot = from % m; s < this.rewards; s++, slot = slot + 1 === m ? 0 : slot + 1) {
      const dw = g[slot] * (t + f * qAt[slot * cols + j]);
      if (dw === 0) continue;
      const x = w + dw;
      w = x < wMin ? wMin : x > wMax ? wMax : x;
    }
    real[j] = w;
  }

  /** Stores the listed rows' weights, their factors as they are now: before their trace rows change. */
  commitRows(rows: Int32Array, count: number): void {
    for (let k = 0; k < count; k++) this.commit(rows[k]);
  }

  /**
   * Row i brought up to date, its factor as it is now; returns whether its
   * weights were computed into `real` (else the stored row holds them).
   */
  private commit(i: number): boolean {
    const f = this.p.factors[i];
    const inReal = this.takeRewards(i);
    this.rowF[i] = f;
    return inReal;
  }

  /**
   * Row i brought up to date, its trace's factor as it was (the trace row
   * unchanged); returns as rowReal does.
   */
  private takeRewards(i: number): boolean {
    const inReal = this.rowReal(i, true);
    this.rowG[i] = this.G;
    this.rowAt[i] = this.rewards;
    return inReal;
  }

  /**
   * Whether the rows' bounds follow the trace's rows as they change (the
   * caller then has traceAddRows keep them): only while the rule applies
   * its rewards here, else they are taken afresh at the next reward.
   */
  rowBoundsKept(): boolean {
    if (!this.active) this.rowMaxStale = true;
    return !this.rowMaxStale;
  }

  /** Columns were added to q. */
  columnsAdded(cols: Int32Array, count: number): void {
    const { q } = this.p;
    for (let k = 0; k < count; k++) if (q[cols[k]] > this.qMax) this.qMax = q[cols[k]];
    if (count > 0) this.qMoved = true;
  }

  /** The trace's stored values were multiplied by s (its scale folded in). */
  traceScaled(s: number): void {
    if (this.rowMaxStale) return;
    const { rowMax } = this.p;
    for (let i = 0; i < rowMax.length; i++) rowMax[i] *= s;
  }

  /**
   * Delivery: out[j] += w[i][j] * scale for every listed row. The rows are
   * stored up to date as they are read (the step after their spike, with
   * no reward between, then has nothing to store).
   */
  deliver(rows: Int32Array, count: number, out: Float64Array, scale: number): void {
    const { wasm, real, u, cols } = this.p;
    if (wasm !== null) wasm.lazyDeliverBegin(out);
    for (let k = 0; k < count; k++) {
      const i = rows[k];
      const computed = this.commit(i);
      if (wasm !== null) {
        if (computed) wasm.lazyDeliverComputed();
        else wasm.lazyDeliverStored(i);
        continue;
      }
      const w = computed ? real : u;
      for (let j = 0, at = computed ? 0 : i * cols; j < cols; j++) out[j] += w[at + j] * scale;
    }
    if (wasm !== null) wasm.lazyDeliverEnd(out);
  }

  /** Row i's real weights into out from `at`, the state unchanged (weight reads). */
  readRow(i: number, out: Float64Array, at: number): void {
    const { real, u, cols } = this.p;
    const stored = !this.rowReal(i, false);
    const w = stored ? u : real;
    for (let j = 0, from = stored ? i * cols : 0; j < cols; j++) out[at + j] = w[from + j];
  }

  /**
   * Brings every row up to date (u = w) and starts a new epoch: before
   * anything reads or writes the matrix as a whole, or changes the trace,
   * q or the factors other than a row at a time.
   */
  flushAll(): void {
    if (this.rewards > 0) for (let i = 0; i < this.p.rows; i++) this.rowReal(i, true);
    this.restart();
  }

  /** A new epoch: no rewards, every row up to date with its factor now. Only where every row holds its real weights. */
  private restart(): void {
    this.hAt.fill(0, 0, this.p.cols);
    this.G = 0;
    this.rewards = 0;
    this.p.h.fill(0);
    this.rowG.fill(0);
    this.rowAt.fill(0);
    this.rowF.set(this.p.factors);
  }

  /**
   * The factors, q and the trace changed as a whole (the pending columns
   * restarted, the trace reset or restored): rows follow them, every row up
   * to date first.
   */
  factorsChanged(): void {
    this.flushAll();
    const { q } = this.p;
    this.qMax = 0;
    for (let j = 0; j < q.length; j++) if (q[j] > this.qMax) this.qMax = q[j];
    this.rowMaxStale = true;
  }

  /** Every row's bound on the trace, afresh. */
  private allRowsChanged(): void {
    this.p.rowBounds();
    this.rowMaxStale = false;
  }
}

/**
 * The row at `base` after one rewarded step, g = params[0], from its stored
 * weights, with q as at that step: dw = g * (T + wf * q[j]), and where dw
 * is not 0, w + dw clamped to [w_min, w_max] (the replay's step); into the
 * stored row with `commit`, else into `real`. The WebAssembly kernel
 * `lazyOne` does the same operations.
 */
function lazyOneJs(p: LazyRewardParts, base: number, commit: boolean): void {
  const { u, trace, q, real, params, cols } = p;
  const g = params[0];
  const wf = params[2];
  const lo = params[3];
  const hi = params[4];
  const out = commit ? u : real;
  const at = commit ? base : 0;
  for (let j = 0; j < cols; j++) {
    const w = u[base + j];
    const dw = g * (trace[base + j] + wf * q[j]);
    if (dw === 0) {
      out[at + j] = w;
      continue;
    }
    const x = w + dw;
    out[at + j] = x < lo ? lo : x > hi ? hi : x;
  }
}

/**
 * Row i's real weights (the row at `base`) into `real`, no bound assumed:
 * w = (u + T * dG) + wf * (H - H0), H0 the row at `h0` of hAt, H when the
 * row was last brought up to date; and the columns where a bound could have
 * acted (their weight u then within b = params[1] of a bound) into `fails`.
 * Returns how many. With `commit`, the other columns store w. The
 * WebAssembly kernel `lazyRow` does the same operations.
 */
function lazyRowJs(p: LazyRewardParts, base: number, h0: number, commit: boolean): number {
  const { u, trace, h, hAt, real, fails, params, cols } = p;
  const dG = params[0];
  const b = params[1];
  const wf = params[2];
  const lo = params[3];
  const hi = params[4];
  let n = 0;
  for (let j = 0; j < cols; j++) {
    const x = u[base + j];
    const w = x + trace[base + j] * dG + wf * (h[j] - hAt[h0 + j]);
    real[j] = w;
    if (x - b < lo || x + b > hi) fails[n++] = j;
    else if (commit) u[base + j] = w;
  }
  return n;
}
