/**
 * Steps a benchmark case the way a session does: calls of up to CALL_STEPS
 * steps, each checked up front by prepareRun (a case with one input pattern
 * holds it for the call, one with several sends one vector per step, as a
 * client streaming patterns does; one reward per step) and run by runSlice, so the benchmarks time what a `POST /step` or a WebSocket step
 * runs in the engine, the checking of its inputs included.
 */
import type { Network, RunRequest } from '../src/engine/index.js';
import type { BenchCase } from './networks.js';

/** Steps per call: what a client asking for many steps at a time sends. */
export const CALL_STEPS = 1000;

/**
 * A function running steps [t, t + steps) of case c on net, with c's inputs
 * and rewards repeating; onStep (if given) sees the network after each step.
 */
export function sessionStepper(net: Network, c: BenchCase, onStep?: (t: number) => void): (t: number, steps: number) => void {
  return (start, steps) => {
    for (let from = start; from < start + steps; from += CALL_STEPS) {
      const n = Math.min(CALL_STEPS, start + steps - from);
      const held = c.inputs.length === 1;
      const inputs: Record<string, unknown> = {};
      for (const name of Object.keys(c.inputs[0])) inputs[name] = held ? c.inputs[0][name] : [];
      // A batch's rewards per copy go as one list per step.
      const perCopy = typeof c.rewards[0] !== 'number';
      const reward = perCopy ? new Array<number | number[]>(n) : new Float64Array(n);
      for (let k = 0; k < n; k++) {
        const t = from + k;
        if (!held) {
          const x = c.inputs[t % c.inputs.length];
          for (const name in inputs) (inputs[name] as unknown[]).push(x[name]);
        }
        const r = c.rewards[t % c.rewards.length];
        if (perCopy) (reward as (number | number[])[])[k] = r;
        else (reward as Float64Array)[k] = r as number;
      }
      const plan = net.prepareRun({ steps: n, inputs, reward } as RunRequest);
      net.runSlice(plan, 0, n, onStep === undefined ? undefined : (k) => onStep(from + k));
    }
  };
}
