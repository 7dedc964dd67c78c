/** Loads the reference trajectories of test/golden and compares runs against them. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { StepBody } from '../../src/api/step.js';
import type { ReplayCase, ReplayResult } from '../../src/engine/index.js';

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

/**
 * A step request for steps [from, to) of the case in one request: an input
 * vector and a reward per step, returning potentials and weights.
 */
export function stepsBody(c: Pick<ReplayCase, 'network' | 'steps'>, from: number, to: number): StepBody {
  const steps = c.steps.slice(from, to);
  const sizes: Record<string, number> = Object.fromEntries(Object.entries((c.network as { populations: Record<string, { n: number }> }).populations).map(([p, s]) => [p, s.n]));
  const copies = (c.network as { batch_size?: number }).batch_size ?? 1;
  const inputs: Record<string, number[][] | number[][][]> = {};
  for (const p of Object.keys(sizes)) {
    // A step without input for a population is a step with zeros (model.md step 1), for every copy of a batch.
    const zeros = copies > 1 ? Array.from({ length: copies }, () => new Array<number>(sizes[p]).fill(0)) : new Array<number>(sizes[p]).fill(0);
    if (steps.some((s) => s.inputs?.[p])) inputs[p] = steps.map((s) => s.inputs?.[p] ?? zeros) as number[][] | number[][][];
  }
  // Rewards only where a rule learns from them: elsewhere the API refuses them.
  const reward = usesReward(c) ? { reward: steps.map((s) => s.reward ?? 0) as number[] | number[][] } : {};
  return { steps: steps.length, inputs, ...reward, return: { potentials: true, weights: true } };
}
