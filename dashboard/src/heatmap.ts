/**
 * A connection's weights as a heatmap: row i is pre neuron i, column j post
 * neuron j, coloured on viridis between the scale's ends, with a colour bar
 * labelled with those ends and the matrix' current min and max. Large
 * matrices are sampled down to the canvas' pixels; small ones get their
 * values written in the cells.
 */
import { PixelImage, THEME, formatNumber, surface } from './canvas.js';
import { colourCss, colourWord, isLight } from './colormap.js';
import type { ConnectionInfo, WeightMatrix } from './store.js';

export type ScaleMode = 'bounds' | 'data';

const BAR_W = 12;
const MARGIN = { left: 36, right: 64, top: 6, bottom: 18 };

export class HeatmapView {
  private readonly image = new PixelImage();
  private drawnKey = '';

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly connection: ConnectionInfo,
  ) {}

  /** The scale's ends for a mode: the connection's bounds, or the data's range. */
  scale(w: WeightMatrix | undefined, mode: ScaleMode): [number, number] {
    let lo = this.connection.wMin;
    let hi = this.connection.wMax;
    if (mode === 'data' && w) [lo, hi] = [w.min, w.max];
    if (!(hi > lo)) hi = lo + 1;
    return [lo, hi];
  }

  render(w: WeightMatrix | undefined, mode: ScaleMode): boolean {
    const key = `${w?.version ?? -1}|${mode}|${this.canvas.clientWidth}x${this.canvas.clientHeight}`;
    if (key === this.drawnKey) return false;
    this.drawnKey = key;
    const { ctx, width, height } = surface(this.canvas);
    ctx.fillStyle = THEME.panel;
    ctx.fillRect(0, 0, width, height);
    const { rows, cols } = this.connection;
    const areaW = Math.max(1, width - MARGIN.left - MARGIN.right);
    const areaH = Math.max(1, height - MARGIN.top - MARGIN.bottom);
    // Square cells where they fit; a very long matrix fills the area instead.
    let cell = Math.min(areaW / Math.max(1, cols), areaH / Math.max(1, rows));
    let plotW = cell * cols;
    let plotH = cell * rows;
    if (plotW < 24 || plotH < 24) {
      plotW = cols > 0 ? Math.max(plotW, Math.min(areaW, 24)) : 0;
      plotH = rows > 0 ? Math.max(plotH, Math.min(areaH, 24)) : 0;
      cell = 0;
    }
    const x0 = MARGIN.left + Math.floor((areaW - plotW) / 2);
    const y0 = MARGIN.top;
    const [lo, hi] = this.scale(w, mode);

    ctx.font = THEME.font;
    if (!w || rows === 0 || cols === 0) {
      ctx.fillStyle = THEME.muted;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(rows === 0 || cols === 0 ? 'empty connection' : 'waiting for weights', MARGIN.left + areaW / 2, MARGIN.top + areaH / 2);
    } else {
      const ratio = window.devicePixelRatio || 1;
      const imgW = Math.min(cols, Math.max(1, Math.round(plotW * ratio)));
      const imgH = Math.min(rows, Math.max(1, Math.round(plotH * ratio)));
      const px = this.image.begin(imgW, imgH);
      const span = hi - lo;
      for (let y = 0; y < imgH; y++) {
        const i = Math.floor((y * rows) / imgH);
        for (let x = 0; x < imgW; x++) {
          const j = Math.floor((x * cols) / imgW);
          px[y * imgW + x] = colourWord((w.data[i * cols + j] - lo) / span);
        }
      }
      this.image.draw(ctx, x0, y0, plotW, plotH);
      if (cell >= 30) this.cellValues(ctx, w, x0, y0, cell, lo, span);
      ctx.strokeStyle = THEME.grid;
      ctx.strokeRect(x0 - 0.5, y0 - 0.5, plotW + 1, plotH + 1);
    }

    ctx.fillStyle = THEME.muted;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'top';
    ctx.fillText('pre', x0 - 4, y0);
    ctx.textAlign = 'left';
    ctx.fillText('post →', x0, y0 + plotH + 3);
    // The colour bar sits beside the matrix, not at the far edge, so the eye need not travel.
    this.colourBar(ctx, Math.min(width - MARGIN.right + 14, x0 + plotW + 18), MARGIN.top, Math.max(40, areaH), lo, hi, w);
    return true;
  }

  private cellValues(ctx: CanvasRenderingContext2D, w: WeightMatrix, x0: number, y0: number, cell: number, lo: number, span: number): void {
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.font = `${Math.min(14, Math.floor(cell / 3.2))}px ui-monospace, monospace`;
    for (let i = 0; i < w.rows; i++) {
      for (let j = 0; j < w.cols; j++) {
        const v = w.data[i * w.cols + j];
        ctx.fillStyle = isLight((v - lo) / span) ? '#111' : '#eee';
        ctx.fillText(formatNumber(v), x0 + (j + 0.5) * cell, y0 + (i + 0.5) * cell);
      }
    }
    ctx.font = THEME.font;
  }

  private colourBar(ctx: CanvasRenderingContext2D, x: number, y: number, h: number, lo: number, hi: number, w: WeightMatrix | undefined): void {
    for (let k = 0; k < h; k++) {
      ctx.fillStyle = colourCss(1 - k / (h - 1));
      ctx.fillRect(x, y + k, BAR_W, 1);
    }
    ctx.strokeStyle = THEME.grid;
    ctx.strokeRect(x - 0.5, y - 0.5, BAR_W + 1, h + 1);
    ctx.fillStyle = THEME.text;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(formatNumber(hi), x + BAR_W + 4, y);
    ctx.textBaseline = 'bottom';
    ctx.fillText(formatNumber(lo), x + BAR_W + 4, y + h);
    if (!w || w.data.length === 0) return;
    // Ticks where the data's min and max sit on the scale.
    ctx.strokeStyle = THEME.text;
    for (const v of [w.min, w.max]) {
      const t = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
      const ty = Math.round(y + (1 - t) * (h - 1)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x - 4, ty);
      ctx.lineTo(x, ty);
      ctx.stroke();
    }
  }
}
