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

/** to.set(from), VALUES_PER_PAUSE values at a time, pausing (yield) between them. */
export function* copyPausing(to: Float64Array, from: ArrayLike<number>): Generator<void, void> {
  for (let at = 0; at < from.length; at += VALUES_PER_PAUSE) {
    const end = Math.min(from.length, at + VALUES_PER_PAUSE);
    if (from instanceof Float64Array) to.set(from.subarray(at, end), at);
    else for (let k = at; k < end; k++) to[k] = from[k];
    if (end < from.length) yield;
  }
}

/** A copy of `from`, made VALUES_PER_PAUSE values at a time, pausing (yield) between them. */
export function* copyOfPausing(from: Float64Array): Generator<void, Float64Array> {
  const to = new Float64Array(from.length);
  yield* copyPausing(to, from);
  return to;
}
