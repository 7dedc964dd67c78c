/** Helpers for tests that compare two paths of the engine bit for bit. */
import assert from 'node:assert/strict';

/** A small seeded generator (numerical recipes' LCG) in [0, 1): the same draws on every machine. */
export function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Same length and every element the same bits (Object.is: -0 and +0 differ). */
export function assertSameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}[${i}]: ${a[i]} against ${b[i]}`);
}
