/** Loads the reference trajectories of test/golden and compares runs against them. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ReplayResult } from '../../src/engine/index.js';

export const GOLDEN_DIR = path.resolve(process.env.SPIKESERVE_GOLDEN_DIR ?? path.join('test', 'golden'));
export const TOLERANCE = 1e-4;

export interface GoldenCase {
  name: string;
  about: string;
  network: unknown;
  initial_weights?: Record<string, number[][]>;
  steps: { inputs?: Record<string, number[]>; reward?: number }[];
  expect: ReplayResult;
}

/** Every case file, read anew each run so new cases are picked up. */
export function goldenFiles(): string[] {
  return readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.json')).sort();
}

export function loadGolden(file: string): GoldenCase {
  return JSON.parse(readFileSync(path.join(GOLDEN_DIR, file), 'utf8')) as GoldenCase;
}

export function assertSpikesEqual(actual: ReplayResult['spikes'], expected: ReplayResult['spikes']): void {
  for (const [pop, steps] of Object.entries(expected)) {
    assert.ok(actual[pop], `population ${pop} missing from the run`);
    assert.equal(actual[pop].length, steps.length, `population ${pop}: number of steps`);
    for (let t = 0; t < steps.length; t++) {
      assert.deepEqual(actual[pop][t], steps[t], `population ${pop}, step ${t}: spikes differ`);
    }
  }
}

export function assertClose(actual: number, expected: number, what: string, tol = TOLERANCE): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} (tolerance ${tol})`);
}

export function assertWeightsClose(actual: ReplayResult['weights'], expected: ReplayResult['weights'], tol = TOLERANCE): void {
  for (const [conn, w] of Object.entries(expected)) {
    assert.ok(actual[conn], `connection ${conn} missing`);
    w.forEach((row, i) => row.forEach((x, j) => assertClose(actual[conn][i][j], x, `weights.${conn}[${i}][${j}]`, tol)));
  }
}

/** Potentials within tol: [n] per population, or [batch_size][n] in a batch (copy by copy). */
export function assertPotentialsClose(actual: ReplayResult['v'], expected: ReplayResult['v'], tol = TOLERANCE): void {
  const close = (a: unknown, e: unknown, what: string): void => {
    if (Array.isArray(e)) {
      assert.ok(Array.isArray(a) && a.length === e.length, `${what}: ${e.length} entries expected`);
      e.forEach((x, i) => close(a[i], x, `${what}[${i}]`));
    } else {
      assertClose(a as number, e as number, what, tol);
    }
  };
  for (const [pop, v] of Object.entries(expected)) {
    assert.ok(actual[pop], `population ${pop} missing`);
    close(actual[pop], v, `v.${pop}`);
  }
}

/**
 * Whether a case's network learns from rewards (an MSTDP or MSTDPET
 * connection): the API refuses a reward anywhere else, so replays send one only there.
 */
export function usesReward(c: { network: unknown }): boolean {
  const conns = (c.network as { connections?: Record<string, { rule?: { type?: string } }> }).connections ?? {};
  return Object.values(conns).some((x) => ['mstdp', 'mstdpet'].includes(x.rule?.type?.toLowerCase() ?? ''));
}
