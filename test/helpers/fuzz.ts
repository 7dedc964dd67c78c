/**
 * Seeds and run counts for the property tests. CI runs fixed seeds so that a
 * red run is reproducible and a green one stays green; FC_SEED=<n> and
 * FC_RUNS=<n> explore other cases (a failure prints the seed to rerun with).
 */
export function fuzzSeed(fixed: number): number {
  return process.env.FC_SEED ? Number(process.env.FC_SEED) : fixed;
}

export function fuzzRuns(fixed: number): number {
  return process.env.FC_RUNS ? Number(process.env.FC_RUNS) : fixed;
}
