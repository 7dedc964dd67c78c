/**
 * Values handled between two pauses (yields) of the engine's pausing
 * generators: few enough that a caller running them in slices ends each
 * slice on time, many enough that pausing costs nothing.
 */
export const VALUES_PER_PAUSE = 1 << 15;

/** Runs a pausing generator to its end in one go. */
export function runToEnd<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}
