/**
 * A dense weight matrix [rows = pre][cols = post] with a lazily applied decay
 * scale: the real weight is stored[k] * scale.
 *
 * Weight decay multiplies every weight by (1 - d) each update; doing that
 * eagerly costs the whole matrix every step. When w_min <= 0 <= w_max a decayed
 * weight can never leave the bounds, so the clamp is a no-op for every weight
 * the rule did not touch, and folding the decay into `scale` is exact. Only the
 * weights a rule touches are written, at stored = w_new / scale_new. Otherwise
 * (the bounds exclude 0, or d = 1) the decay and clamp run eagerly.
 *
 * An update is begin(), then apply() once per touched synapse, then end().
 */
export class DenseWeights {
  readonly rows: number;
  readonly cols: number;
  readonly stored: Float64Array;
  scale = 1;
  readonly wMin: number;
  readonly wMax: number;
  readonly soft: boolean;
  private readonly factor: number;
  private readonly lazy: boolean;
  private nextScale = 1;

  /** Below this the scale is folded into the stored values so it never underflows. */
  static readonly RENORMALISE_BELOW = 1e-100;

  constructor(rows: number, cols: number, wMin: number, wMax: number, weightDecay: number, soft: boolean) {
    this.rows = rows;
    this.cols = cols;
    this.stored = new Float64Array(rows * cols);
    this.wMin = wMin;
    this.wMax = wMax;
    this.soft = soft;
    this.factor = 1 - weightDecay;
    this.lazy = weightDecay === 0 || (wMin <= 0 && wMax >= 0 && weightDecay < 1);
  }

  get decays(): boolean {
    return this.factor !== 1;
  }

  /** x_post[j] += sum over spiking i of w[i][j]: only the rows of neurons that spiked. */
  deliver(spikeIdx: Int32Array, spikeCount: number, out: Float64Array): void {
    const { stored, cols, scale } = this;
    for (let k = 0; k < spikeCount; k++) {
      const row = spikeIdx[k] * cols;
      for (let j = 0; j < cols; j++) out[j] += stored[row + j] * scale;
    }
  }

  begin(): void {
    this.nextScale = this.lazy ? this.scale * this.factor : 1;
  }

  /** One synapse's update (model.md "Learning rules", steps 1-3). */
  apply(k: number, up: number, down: number): void {
    const w = this.stored[k] * this.scale;
    let wn = this.soft ? w + up * (this.wMax - w) - down * (w - this.wMin) : w + up - down;
    if (!this.lazy) {
      this.stored[k] = wn; // end() decays and clamps every weight
      return;
    }
    wn *= this.factor;
    if (wn < this.wMin) wn = this.wMin;
    else if (wn > this.wMax) wn = this.wMax;
    this.stored[k] = wn / this.nextScale;
  }

  end(): void {
    if (this.lazy) {
      this.scale = this.nextScale;
      if (this.scale < DenseWeights.RENORMALISE_BELOW) this.normalise();
      return;
    }
    const { stored, factor, wMin, wMax } = this;
    for (let k = 0; k < stored.length; k++) {
      let w = stored[k] * factor;
      if (w < wMin) w = wMin;
      else if (w > wMax) w = wMax;
      stored[k] = w;
    }
  }

  /** Folds the scale into the stored values. */
  normalise(): void {
    if (this.scale === 1) return;
    const { stored, scale } = this;
    for (let k = 0; k < stored.length; k++) stored[k] *= scale;
    this.scale = 1;
  }

  get(i: number, j: number): number {
    return this.stored[i * this.cols + j] * this.scale;
  }

  /** Writes real weights, clamped into the bounds; resets the scale. */
  setRows(w: ArrayLike<ArrayLike<number>>): void {
    const { cols, wMin, wMax, stored } = this;
    for (let i = 0; i < this.rows; i++) {
      const row = w[i];
      for (let j = 0; j < cols; j++) stored[i * cols + j] = Math.min(wMax, Math.max(wMin, row[j]));
    }
    this.scale = 1;
  }

  toRows(): number[][] {
    const out: number[][] = new Array(this.rows);
    for (let i = 0; i < this.rows; i++) {
      const row = new Array<number>(this.cols);
      for (let j = 0; j < this.cols; j++) row[j] = this.get(i, j);
      out[i] = row;
    }
    return out;
  }

  /** Real weights, row-major, into a new Float64Array. */
  toFlat(): Float64Array {
    const out = new Float64Array(this.stored.length);
    for (let k = 0; k < out.length; k++) out[k] = this.stored[k] * this.scale;
    return out;
  }
}
