/**
 * The heatmap's colour scale: a 256-entry lookup table interpolated from
 * viridis' key colours (perceptually uniform, readable in greyscale and by
 * most colour-blind viewers), packed as little-endian RGBA words for ImageData.
 */

const STOPS: [number, number, number][] = [
  [0x44, 0x01, 0x54],
  [0x47, 0x2d, 0x7b],
  [0x3b, 0x52, 0x8b],
  [0x2c, 0x72, 0x8e],
  [0x21, 0x91, 0x8c],
  [0x28, 0xae, 0x80],
  [0x5e, 0xc9, 0x62],
  [0xad, 0xdc, 0x30],
  [0xfd, 0xe7, 0x25],
];

export const LUT_SIZE = 256;

function build(): { words: Uint32Array; css: string[] } {
  const words = new Uint32Array(LUT_SIZE);
  const css: string[] = [];
  for (let i = 0; i < LUT_SIZE; i++) {
    const t = (i / (LUT_SIZE - 1)) * (STOPS.length - 1);
    const k = Math.min(STOPS.length - 2, Math.floor(t));
    const f = t - k;
    const [r, g, b] = [0, 1, 2].map((c) => Math.round(STOPS[k][c] + (STOPS[k + 1][c] - STOPS[k][c]) * f));
    // ImageData is RGBA in memory; every browser this runs on is little-endian.
    words[i] = (0xff << 24) | (b << 16) | (g << 8) | r;
    css.push(`rgb(${r},${g},${b})`);
  }
  return { words, css };
}

const { words: LUT, css: CSS } = build();

/** The colour of t in [0, 1] (clamped; NaN gives the lowest colour) as an RGBA word. */
export function colourWord(t: number): number {
  if (!(t > 0)) return LUT[0];
  if (t >= 1) return LUT[LUT_SIZE - 1];
  return LUT[Math.floor(t * (LUT_SIZE - 1) + 0.5)];
}

/** The same colour as a CSS string. */
export function colourCss(t: number): string {
  if (!(t > 0)) return CSS[0];
  if (t >= 1) return CSS[LUT_SIZE - 1];
  return CSS[Math.floor(t * (LUT_SIZE - 1) + 0.5)];
}

/** Perceived brightness of the colour at t, to pick readable text on it. */
export function isLight(t: number): boolean {
  const w = colourWord(t);
  const r = w & 0xff;
  const g = (w >>> 8) & 0xff;
  const b = (w >>> 16) & 0xff;
  return 0.299 * r + 0.587 * g + 0.114 * b > 140;
}
