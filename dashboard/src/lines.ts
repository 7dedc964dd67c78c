/**
 * A line chart of step-indexed series sharing one x range (the last `span`
 * steps up to the newest point) and one y range (fitted to what is shown, or
 * fixed). Points are decimated to about one per pixel column, so a long
 * history costs the canvas' width, not the series' length.
 */
import { THEME, formatNumber, surface } from './canvas.js';
import type { Series } from './store.js';

export interface Trace {
  series: Series;
  colour: string;
  label: string;
  /** Dots for single values (a reward per step), or a line (an average). */
  style: 'dots' | 'line';
  /** Multiplies every value (spikes per step to Hz). */
  scale?: number;
}

const MARGIN = { left: 44, right: 8, top: 18, bottom: 16 };

export class LineChart {
  private drawnKey = '';

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly span: number,
    private readonly yFloor: number | null = null,
    /** Written across the plot while no trace has a point in range. */
    private readonly emptyText = 'no data yet',
  ) {}

  render(traces: Trace[], latestStep: number): boolean {
    const key = traces.map((t) => `${t.label}:${t.series.version}`).join('|') + `|${this.canvas.clientWidth}x${this.canvas.clientHeight}|${latestStep}`;
    if (key === this.drawnKey) return false;
    this.drawnKey = key;
    const { ctx, width, height } = surface(this.canvas);
    ctx.fillStyle = THEME.panel;
    ctx.fillRect(0, 0, width, height);
    const plotW = Math.max(1, width - MARGIN.left - MARGIN.right);
    const plotH = Math.max(1, height - MARGIN.top - MARGIN.bottom);
    // The newest step at the right edge; a young session's history fills the width.
    const x0 = Math.max(0, latestStep - this.span);
    const x1 = Math.max(latestStep, x0 + 10);

    let lo = Infinity;
    let hi = -Infinity;
    for (const t of traces) {
      const s = t.series;
      const k = t.scale ?? 1;
      for (let i = 0; i < s.size; i++) {
        if (s.stepAt(i) < x0) continue;
        const v = s.valueAt(i) * k;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const empty = !(hi >= lo);
    if (this.yFloor !== null) lo = Math.min(this.yFloor, lo);
    if (!(hi >= lo)) [lo, hi] = [0, 1];
    if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
    const pad = (hi - lo) * 0.06;
    if (this.yFloor === null || lo < this.yFloor) lo -= pad;
    hi += pad;
    const sx = (step: number) => MARGIN.left + ((step - x0) / (x1 - x0)) * plotW;
    const sy = (v: number) => MARGIN.top + (1 - (v - lo) / (hi - lo)) * plotH;

    ctx.strokeStyle = THEME.grid;
    ctx.lineWidth = 1;
    ctx.strokeRect(MARGIN.left - 0.5, MARGIN.top - 0.5, plotW + 1, plotH + 1);
    if (!empty && lo < 0 && hi > 0) {
      const zy = Math.round(sy(0)) + 0.5;
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(MARGIN.left, zy);
      ctx.lineTo(MARGIN.left + plotW, zy);
      ctx.stroke();
      ctx.setLineDash([]);
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, plotW, plotH);
    ctx.clip();
    for (const t of traces) this.trace(ctx, t, x0, sx, sy);
    ctx.restore();

    ctx.font = THEME.font;
    ctx.fillStyle = THEME.muted;
    if (empty) {
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(this.emptyText, MARGIN.left + plotW / 2, MARGIN.top + plotH / 2);
    } else {
      ctx.textAlign = 'right';
      ctx.textBaseline = 'top';
      ctx.fillText(formatNumber(hi), MARGIN.left - 4, MARGIN.top);
      ctx.textBaseline = 'bottom';
      ctx.fillText(formatNumber(lo), MARGIN.left - 4, MARGIN.top + plotH);
    }
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    ctx.fillText(`step ${Math.max(0, x0)}`, MARGIN.left, MARGIN.top + plotH + 3);
    ctx.textAlign = 'right';
    ctx.fillText(String(x1), MARGIN.left + plotW, MARGIN.top + plotH + 3);

    // Legend along the top, each label in its trace's colour.
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    let lx = MARGIN.left;
    for (const t of traces) {
      ctx.fillStyle = t.colour;
      ctx.fillRect(lx, 6, 10, 3);
      ctx.fillStyle = THEME.text;
      ctx.fillText(t.label, lx + 14, 2);
      lx += 14 + ctx.measureText(t.label).width + 14;
    }
    return true;
  }

  private trace(ctx: CanvasRenderingContext2D, t: Trace, x0: number, sx: (s: number) => number, sy: (v: number) => number): void {
    const s = t.series;
    const k = t.scale ?? 1;
    ctx.strokeStyle = t.colour;
    ctx.fillStyle = t.colour;
    // Each pixel column gets the min and max of its points: spikes in the
    // data stay visible however many points share a column.
    let col = -1;
    let cmin = 0;
    let cmax = 0;
    let started = false;
    const flush = () => {
      if (col < 0) return;
      const ya = sy(cmin);
      const yb = sy(cmax);
      if (t.style === 'dots') {
        ctx.fillRect(col, Math.min(ya, yb) - 1, 1.5, Math.max(2, Math.abs(ya - yb) + 2));
      } else if (!started) {
        ctx.moveTo(col, ya);
        if (yb !== ya) ctx.lineTo(col, yb);
        started = true;
      } else {
        ctx.lineTo(col, ya);
        if (yb !== ya) ctx.lineTo(col, yb);
      }
    };
    ctx.globalAlpha = t.style === 'dots' ? 0.55 : 1;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    for (let i = 0; i < s.size; i++) {
      const step = s.stepAt(i);
      if (step < x0) continue;
      const c = Math.floor(sx(step));
      const v = s.valueAt(i) * k;
      if (c !== col) {
        flush();
        col = c;
        cmin = cmax = v;
      } else {
        if (v < cmin) cmin = v;
        if (v > cmax) cmax = v;
      }
    }
    flush();
    if (t.style === 'line') ctx.stroke();
    ctx.globalAlpha = 1;
  }
}
