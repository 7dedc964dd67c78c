/**
 * Many sessions stepped from one request: POST /v1/batch/step and the
 * multiplexed WebSocket's step_batch. Each item runs as that session's own
 * step would (validation, limits, quotas, durability), and settles on its
 * own, so one item's failure fails no other.
 */
import type { BatchStepItem } from '../api/batch.js';
import type { StepBody, StepResult } from '../api/step.js';
import { SpikeserveError } from '../errors.js';
import type { Owner } from './capacity.js';
import type { SessionManager } from './manager.js';
import type { Session } from './session.js';

/**
 * Starts every item's step and resolves with their outcomes, in item order.
 * `owner` given, a session of another owner is SESSION_NOT_FOUND. More than
 * `maxItems` items are refused whole (LIMIT_EXCEEDED), before any runs.
 */
export function stepEach(sessions: SessionManager, items: readonly BatchStepItem[], owner: Owner | undefined, maxItems: number): Promise<PromiseSettledResult<StepResult>[]> {
  checkBatchSize(items.length, maxItems);
  return stepAll(
    sessions,
    items.map((item) => item.id),
    items.map(({ id: _id, ...body }) => body),
    owner,
  );
}

/**
 * As stepEach, session `ids[i]` stepped with `bodies[i]` (the caller checked
 * the batch's size); `check(session, i)`, given, may refuse item i by
 * throwing, once its session is found, before it runs.
 */
export function stepAll(
  sessions: SessionManager,
  ids: readonly string[],
  bodies: readonly StepBody[],
  owner: Owner | undefined,
  check?: (session: Session, i: number) => void,
): Promise<PromiseSettledResult<StepResult>[]> {
  // Queued in item order, so items of one session keep their order on its
  // queue (a session on disk is loaded once; its items follow in order); a
  // session in memory gets its item at once, as a single command does, so a
  // command sent after the batch cannot overtake it.
  const run = check === undefined ? (s: Session, i: number) => s.step(bodies[i]) : (s: Session, i: number) => (check(s, i), s.step(bodies[i]));
  return Promise.allSettled(ids.map((id, i) => sessions.use(id, (s) => run(s, i), owner)));
}

/** Throws LIMIT_EXCEEDED for a batch of more than `maxItems` items (MAX_BATCH_ITEMS), in the request's `field`. */
export function checkBatchSize(n: number, maxItems: number, field = 'items'): void {
  if (n > maxItems) {
    throw new SpikeserveError('LIMIT_EXCEEDED', `${field}: ${n} ${field}, more than the limit of ${maxItems} (MAX_BATCH_ITEMS); split the batch`, {
      field,
      limit: 'maxBatchItems',
      max: maxItems,
      value: n,
    });
  }
}
