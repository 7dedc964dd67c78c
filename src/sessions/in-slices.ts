/**
 * Runs work written as a pausing generator (it yields every so often) in
 * slices of about `sliceMs`, letting the event loop serve other requests
 * between them: large work done in one go would keep every other client
 * waiting.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';

export async function inSlices<T>(steps: Generator<void, T>, sliceMs: number): Promise<T> {
  let sliceEnd = performance.now() + sliceMs;
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() >= sliceEnd) {
      await yieldToLoop();
      sliceEnd = performance.now() + sliceMs;
    }
  }
}
