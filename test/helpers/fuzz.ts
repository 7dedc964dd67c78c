/**
 * Seeds and run counts for the property tests, and the length of the long
 * runs. CI runs fixed seeds so that a red run is reproducible and a green one
 * stays green; FC_SEED=<n> and FC_RUNS=<n> explore other cases (a failure
 * prints the seed to rerun with).
 *
 * Two depths: `npm test` (what CI runs) runs every test in full;
 * `npm run test:unit`, the loop run after each change, sets
 * SPIKESERVE_TEST_DEPTH=quick, where a property or fuzz test draws a quarter
 * of its cases (the first ones of the same seed) and a long run takes fewer
 * of its cycles: the same checks on less input.
 */
const QUICK = process.env.SPIKESERVE_TEST_DEPTH === 'quick';

export function fuzzSeed(fixed: number): number {
  return process.env.FC_SEED ? Number(process.env.FC_SEED) : fixed;
}

export function fuzzRuns(fixed: number): number {
  if (process.env.FC_RUNS) return Number(process.env.FC_RUNS);
  return QUICK ? Math.ceil(fixed / 4) : fixed;
}

/** `full` in a full run, `quick` in a quick one: how many cycles a long run takes. */
export function atDepth(full: number, quick: number): number {
  return QUICK ? quick : full;
}
