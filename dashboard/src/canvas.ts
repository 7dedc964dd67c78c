/** Canvas plumbing shared by the renderers: device-pixel sizing, an offscreen image, number labels. */

export interface Surface {
  ctx: CanvasRenderingContext2D;
  /** Size in CSS pixels; the context is scaled so renderers draw in these units. */
  width: number;
  height: number;
}

/**
 * Matches the canvas' backing store to its displayed size at the device's
 * pixel ratio (sharp lines on high-DPI screens), then returns a context drawing
 * in CSS pixels. Resizing clears the canvas, so it happens only on change.
 */
export function surface(canvas: HTMLCanvasElement): Surface {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, canvas.clientWidth);
  const height = Math.max(1, canvas.clientHeight);
  const pw = Math.round(width * ratio);
  const ph = Math.round(height * ratio);
  if (canvas.width !== pw || canvas.height !== ph) {
    canvas.width = pw;
    canvas.height = ph;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gives no 2D canvas context');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}

/**
 * A pixel buffer drawn into the visible canvas scaled up without smoothing:
 * a raster or a heatmap is built one value per pixel, however large the
 * canvas, and scaled by the GPU in one drawImage.
 */
export class PixelImage {
  private canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D;
  private image: ImageData | null = null;
  words = new Uint32Array(0);

  constructor() {
    this.canvas = document.createElement('canvas');
    const ctx = this.canvas.getContext('2d');
    if (!ctx) throw new Error('this browser gives no 2D canvas context');
    this.ctx = ctx;
  }

  /** Resizes to w x h (at least 1 x 1) and returns the pixels as RGBA words. */
  begin(w: number, h: number): Uint32Array {
    w = Math.max(1, w);
    h = Math.max(1, h);
    if (!this.image || this.image.width !== w || this.image.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.image = this.ctx.createImageData(w, h);
      this.words = new Uint32Array(this.image.data.buffer);
    }
    return this.words;
  }

  /** Puts the pixels on `target` in the rectangle (x, y, w, h). */
  draw(target: CanvasRenderingContext2D, x: number, y: number, w: number, h: number): void {
    if (!this.image) return;
    this.ctx.putImageData(this.image, 0, 0);
    target.imageSmoothingEnabled = false;
    target.drawImage(this.canvas, x, y, w, h);
  }
}

/** A number short enough for an axis label or a cell. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(a >= 1 ? 2 : 3);
}

/** An RGBA word from a CSS hex colour (#rrggbb). */
export function hexWord(hex: string): number {
  const v = parseInt(hex.slice(1), 16);
  return (0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff);
}

/** Colours of the populations, in layout order (cycled). */
export const POPULATION_COLOURS = ['#4cc9f0', '#f72585', '#b5e48c', '#ffb703', '#9d4edd', '#fb8500', '#06d6a0', '#ef476f'];

export const THEME = {
  background: '#11151c',
  panel: '#171c25',
  grid: '#2a3140',
  text: '#c9d1d9',
  muted: '#7d8590',
  font: '11px ui-sans-serif, system-ui, sans-serif',
};
