/**
 * What the session view knows about the watched session, fed by the observer
 * stream and by REST reads, read by the renderers once per animation frame.
 * Everything is held in fixed-size rings, so a session that runs for hours
 * keeps the page's memory flat. Each part carries a version number that
 * changes when it does, so a renderer redraws only what changed.
 */

export interface PopulationInfo {
  name: string;
  n: number;
}

export interface ConnectionInfo {
  name: string;
  pre: string;
  post: string;
  rows: number;
  cols: number;
  wMin: number;
  wMax: number;
  rule: string;
}

export interface Layout {
  /** Milliseconds per step (the spec's dt), for rates in Hz. */
  dt: number;
  /** The spec's batch_size: copies sharing the weights (1: not a batch). */
  batchSize: number;
  populations: PopulationInfo[];
  connections: ConnectionInfo[];
}

/** A ring of (step, value) pairs, oldest first when read. */
export class Series {
  readonly steps: Float64Array;
  readonly values: Float64Array;
  private head = 0;
  private count = 0;
  version = 0;

  constructor(readonly capacity: number) {
    this.steps = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(step: number, value: number): void {
    this.steps[this.head] = step;
    this.values[this.head] = value;
    this.head = (this.head + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.version++;
  }

  /** The k-th pair, 0 the oldest held. */
  stepAt(k: number): number {
    return this.steps[(this.head - this.count + k + this.capacity) % this.capacity];
  }

  valueAt(k: number): number {
    return this.values[(this.head - this.count + k + this.capacity) % this.capacity];
  }

  last(): { step: number; value: number } | null {
    if (this.count === 0) return null;
    return { step: this.stepAt(this.count - 1), value: this.valueAt(this.count - 1) };
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.version++;
  }
}

/**
 * One population's spikes over the last `capacity` steps received. Steps the
 * server thinned out of the stream are simply absent: the raster shows them
 * as gaps, and rates are taken over the steps actually seen.
 */
export class SpikeRing {
  private readonly stepOf: Float64Array;
  private readonly lists: Int32Array[];
  private readonly lengths: Uint32Array;
  private head = 0;
  private count = 0;
  version = 0;

  constructor(readonly n: number, readonly capacity: number) {
    this.stepOf = new Float64Array(capacity);
    this.lengths = new Uint32Array(capacity);
    // Grown on demand, then reused: a quiet population costs next to nothing.
    this.lists = Array.from({ length: capacity }, () => new Int32Array(0));
  }

  get size(): number {
    return this.count;
  }

  push(step: number, indices: ArrayLike<number>): void {
    const slot = this.head;
    if (this.lists[slot].length < indices.length) this.lists[slot] = new Int32Array(Math.max(indices.length, this.lists[slot].length * 2, 4));
    const list = this.lists[slot];
    let m = 0;
    for (let i = 0; i < indices.length; i++) {
      const x = indices[i];
      // A malformed index must not paint outside the population's rows.
      if (x >= 0 && x < this.n) list[m++] = x;
    }
    this.lengths[slot] = m;
    this.stepOf[slot] = step;
    this.head = (slot + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.version++;
  }

  /** Visits the steps held, oldest first, with their spike lists (valid during the call only). */
  forEach(fn: (step: number, list: Int32Array, length: number) => void): void {
    for (let k = 0; k < this.count; k++) {
      const slot = (this.head - this.count + k + this.capacity) % this.capacity;
      fn(this.stepOf[slot], this.lists[slot], this.lengths[slot]);
    }
  }

  /** Spikes per neuron per step over the last `window` steps received (0 if none). */
  rate(window: number): number {
    const w = Math.min(window, this.count);
    if (w === 0 || this.n === 0) return 0;
    let total = 0;
    for (let k = this.count - w; k < this.count; k++) total += this.lengths[(this.head - this.count + k + this.capacity) % this.capacity];
    return total / (w * this.n);
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.version++;
  }
}

export interface WeightMatrix {
  /** The session's step count the weights are from. */
  step: number;
  rows: number;
  cols: number;
  /** Row-major, [pre][post]. */
  data: Float64Array;
  min: number;
  max: number;
  /** Taken while the step's update waited for its reward: the reward will change them without a new step. */
  pending: boolean;
  version: number;
}

export interface StoreOptions {
  /** Steps of raster history per population. */
  rasterSteps: number;
  /** Points of reward and rate history. */
  seriesPoints: number;
  /** Steps the moving averages (reward, rates) are taken over. */
  window: number;
}

export const DEFAULT_STORE_OPTIONS: StoreOptions = { rasterSteps: 400, seriesPoints: 2000, window: 100 };

export class SessionStore {
  readonly spikes = new Map<string, SpikeRing>();
  readonly rates = new Map<string, Series>();
  readonly weights = new Map<string, WeightMatrix>();
  readonly reward: Series;
  readonly rewardAverage: Series;
  /** Highest step count heard of, from any source. */
  step = 0;
  /** Steps seen in the spike stream (thinned streams see fewer than `step` advances). */
  stepsReceived = 0;
  /** Events the server reports it dropped for this observer. */
  dropped = 0;
  /** Rewards received since the page opened (or the last reset). */
  rewardsReceived = 0;
  private rewardWindow: Float64Array;
  private rewardWindowHead = 0;
  private rewardWindowCount = 0;
  private rewardWindowSum = 0;

  constructor(readonly layout: Layout, readonly options: StoreOptions = DEFAULT_STORE_OPTIONS) {
    for (const p of layout.populations) {
      this.spikes.set(p.name, new SpikeRing(p.n, options.rasterSteps));
      this.rates.set(p.name, new Series(options.seriesPoints));
    }
    this.reward = new Series(options.seriesPoints);
    this.rewardAverage = new Series(options.seriesPoints);
    this.rewardWindow = new Float64Array(options.window);
  }

  connection(name: string): ConnectionInfo | undefined {
    return this.layout.connections.find((c) => c.name === name);
  }

  noteStep(step: number): void {
    if (step > this.step) this.step = step;
  }

  /** One step's spikes, for the populations the stream carries. */
  addSpikes(step: number, byPopulation: Record<string, ArrayLike<number>>): void {
    this.noteStep(step);
    this.stepsReceived++;
    for (const [name, list] of Object.entries(byPopulation)) {
      const ring = this.spikes.get(name);
      if (!ring) continue;
      ring.push(step, list);
      // A mean over a handful of steps is mostly noise (a first step's burst reads as 1 kHz).
      if (ring.size >= Math.min(this.options.window, 20)) this.rates.get(name)!.push(step, ring.rate(this.options.window));
    }
  }

  addReward(step: number, reward: number): void {
    if (!Number.isFinite(reward)) return;
    this.rewardsReceived++;
    this.reward.push(step, reward);
    const w = this.rewardWindow;
    if (this.rewardWindowCount === w.length) this.rewardWindowSum -= w[this.rewardWindowHead];
    else this.rewardWindowCount++;
    w[this.rewardWindowHead] = reward;
    this.rewardWindowSum += reward;
    this.rewardWindowHead = (this.rewardWindowHead + 1) % w.length;
    this.rewardAverage.push(step, this.rewardWindowSum / this.rewardWindowCount);
  }

  /**
   * A connection's weights, as rows of numbers or a flat row-major array.
   * Older than what is held (a REST read overtaken by the stream) is ignored;
   * at the same step, the newer read wins (it may have the reward's update).
   */
  setWeights(name: string, step: number, matrix: ArrayLike<number>[] | ArrayLike<number>, pending = false): void {
    const c = this.connection(name);
    if (!c) return;
    const held = this.weights.get(name);
    if (held && held.step > step) return;
    const data = held?.data ?? new Float64Array(c.rows * c.cols);
    if (isRows(matrix)) {
      if (matrix.length !== c.rows) return;
      for (let i = 0; i < c.rows; i++) {
        const row = matrix[i];
        if (row.length !== c.cols) return;
        for (let j = 0; j < c.cols; j++) data[i * c.cols + j] = row[j];
      }
    } else {
      if (matrix.length !== c.rows * c.cols) return;
      for (let k = 0; k < data.length; k++) data[k] = matrix[k];
    }
    let min = Infinity;
    let max = -Infinity;
    for (let k = 0; k < data.length; k++) {
      if (data[k] < min) min = data[k];
      if (data[k] > max) max = data[k];
    }
    if (data.length === 0) min = max = 0;
    this.weights.set(name, { step, rows: c.rows, cols: c.cols, data, min, max, pending, version: (held?.version ?? 0) + 1 });
    this.noteStep(step);
  }

  /** After a reset the history no longer describes the session. */
  clearHistory(): void {
    this.clearActivity();
    this.step = 0;
    // Weights from before the reset must not block the ones after it (see setWeights).
    for (const w of this.weights.values()) w.step = -1;
  }

  /** Forgets the spikes, rates and rewards (another copy of a batch is watched now); the step and the shared weights stay. */
  clearActivity(): void {
    for (const r of this.spikes.values()) r.clear();
    for (const s of this.rates.values()) s.clear();
    this.reward.clear();
    this.rewardAverage.clear();
    this.rewardWindowHead = this.rewardWindowCount = 0;
    this.rewardWindowSum = 0;
    this.rewardsReceived = 0;
  }
}

function isRows(m: ArrayLike<number>[] | ArrayLike<number>): m is ArrayLike<number>[] {
  return m.length > 0 && typeof (m as ArrayLike<unknown>)[0] === 'object';
}
