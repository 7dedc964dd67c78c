/**
 * A spike raster: one row per neuron (or per group of neurons when there are
 * more neurons than pixel rows), one column per step over the last `steps`
 * steps, newest on the right. Built one pixel per (step, row) and scaled up,
 * so its cost is the number of spikes held, not the canvas size.
 */
import { PixelImage, THEME, hexWord, surface } from './canvas.js';
import type { SpikeRing } from './store.js';

const MARGIN = { left: 44, right: 8, top: 6, bottom: 16 };

export class RasterView {
  private readonly image = new PixelImage();
  private drawnVersion = -1;
  private drawnWidth = 0;
  private readonly spikeWord: number;
  private readonly backWord = hexWord(THEME.background);

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly ring: SpikeRing,
    private readonly colour: string,
  ) {
    this.spikeWord = hexWord(colour);
  }

  /** Redraws if the ring or the canvas size changed since the last call; returns whether it drew. */
  render(latestStep: number): boolean {
    if (this.ring.version === this.drawnVersion && this.canvas.clientWidth === this.drawnWidth) return false;
    this.drawnVersion = this.ring.version;
    this.drawnWidth = this.canvas.clientWidth;
    const { ctx, width, height } = surface(this.canvas);
    const plotW = Math.max(1, width - MARGIN.left - MARGIN.right);
    const plotH = Math.max(1, height - MARGIN.top - MARGIN.bottom);
    const steps = this.ring.capacity;
    const n = this.ring.n;
    const rows = Math.max(1, Math.min(n, Math.round(plotH * (window.devicePixelRatio || 1))));
    const px = this.image.begin(steps, rows);
    px.fill(this.backWord);
    const first = latestStep - steps + 1;
    this.ring.forEach((step, list, length) => {
      const x = step - first;
      if (x < 0 || x >= steps) return;
      for (let k = 0; k < length; k++) px[Math.floor((list[k] * rows) / n) * steps + x] = this.spikeWord;
    });

    ctx.fillStyle = THEME.panel;
    ctx.fillRect(0, 0, width, height);
    this.image.draw(ctx, MARGIN.left, MARGIN.top, plotW, plotH);
    ctx.strokeStyle = THEME.grid;
    ctx.lineWidth = 1;
    ctx.strokeRect(MARGIN.left - 0.5, MARGIN.top - 0.5, plotW + 1, plotH + 1);

    ctx.font = THEME.font;
    ctx.fillStyle = THEME.muted;
    ctx.textBaseline = 'top';
    ctx.textAlign = 'right';
    ctx.fillText('0', MARGIN.left - 4, MARGIN.top);
    ctx.textBaseline = 'bottom';
    if (n > 1) ctx.fillText(String(n - 1), MARGIN.left - 4, MARGIN.top + plotH);
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    ctx.fillText(`step ${Math.max(0, first)}`, MARGIN.left, MARGIN.top + plotH + 3);
    ctx.textAlign = 'right';
    ctx.fillText(String(latestStep), MARGIN.left + plotW, MARGIN.top + plotH + 3);
    return true;
  }
}

/** A raster canvas' height for n neurons: a few pixels a neuron, within bounds. */
export function rasterHeight(n: number): number {
  return Math.round(Math.min(220, Math.max(56, n * 6))) + MARGIN.top + MARGIN.bottom;
}
