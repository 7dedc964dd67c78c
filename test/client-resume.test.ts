/**
 * What the TypeScript client makes of the commands a dropped socket left
 * without a reply (src/client/resume.ts, the Python client's rules): the one
 * prefix of the unanswered commands that gives the new hello's (step,
 * pending) ran; after a reset or set_weights, or with no single match, the
 * fate of each command that changes the session is unknown. The multiplexed
 * socket's: the counts of commands that give every session the state read
 * now bound what ran (a step_batch's items each on its own session).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appliedPrefix, fates, fatesOf, ranOf, type Effect, type Unanswered } from '../src/client/resume.js';

const step = (steps = 1, defer = false): Unanswered => ({ request: 'step', steps, defer });
const reward: Unanswered = { request: 'reward', steps: 0, defer: false };
const read: Unanswered = { request: 'weights', steps: 0, defer: false };

test('the prefix that gives the new hello\'s state ran; the commands after it are sent again', () => {
  const sent = [step(2, true), reward, read, step(3)];
  assert.equal(appliedPrefix(sent, { step: 10, pending: false }, { step: 12, pending: false }), 2);
  assert.deepEqual(fates(sent, { step: 10, pending: false }, { step: 12, pending: false }), [{ lost: true }, { lost: true }, 'resend', 'resend']);
  assert.deepEqual(fates(sent, { step: 10, pending: false }, { step: 10, pending: false }), ['resend', 'resend', 'resend', 'resend']);
  assert.deepEqual(fates(sent, { step: 10, pending: false }, { step: 15, pending: false }), [{ lost: true }, { lost: true }, { lost: true }, { lost: true }]);
});

test('a reward with nothing pending changes nothing, so two prefixes may match: then nothing can be told', () => {
  const sent = [reward, step(1)];
  assert.equal(appliedPrefix(sent, { step: 4, pending: false }, { step: 4, pending: false }), null);
  assert.deepEqual(fates([...sent, read], { step: 4, pending: false }, { step: 4, pending: false }), [{ lost: null }, { lost: null }, 'resend']);
});

test('an unanswered reset or set_weights leaves every command that changes the session unknown', () => {
  const sent = [step(1), { request: 'reset', steps: 0, defer: false }, read];
  assert.equal(appliedPrefix(sent, { step: 0, pending: false }, { step: 1, pending: false }), null);
  assert.deepEqual(fates(sent, { step: 0, pending: false }, { step: 1, pending: false }), [{ lost: null }, { lost: null }, 'resend']);
});

// The multiplexed socket: many sessions, a step_batch's items each on its own session.
const on = (session: string, steps = 1, defer = false): Effect => ({ session, kind: 'step', steps, defer });
const points = (entries: [string, number, boolean][]) => new Map(entries.map(([id, step, pending]) => [id, { step, pending }]));

test('across sessions, the counts of unanswered commands that give every session its state now say which ran; a session with no acknowledged state tells nothing', () => {
  // step(a, 3), step_batch [b x2, a], step(b, deferred): a at 5, b at 1 before.
  const sent = [[on('a', 3)], [on('b', 2), on('a')], [on('b', 1, true)]];
  const acked = points([
    ['a', 5, false],
    ['b', 1, false],
  ]);
  assert.deepEqual(ranOf(sent, acked, points([['a', 9, false], ['b', 3, false]])), { fewest: 2, most: 2 });
  assert.deepEqual(fatesOf([true, true, false, true], { fewest: 2, most: 2 }), [{ lost: true }, { lost: true }, 'resend', 'resend']);
  assert.deepEqual(ranOf(sent, acked, points([['a', 5, false], ['b', 1, false]])), { fewest: 0, most: 0 });
  assert.equal(ranOf(sent, acked, points([['a', 6, false], ['b', 1, false]])), null, 'no count gives that state');
  // c was never acknowledged, so it tells nothing: with a not moved, step(c) may have run or not.
  assert.deepEqual(ranOf([[on('c')], [on('a')]], acked, points([['a', 5, false], ['c', 40, false]])), { fewest: 0, most: 1 });
});

test('a range of counts: the commands up to the fewest ran, those after the most are sent again, those between are unknown; a read before the fewest lost its reply', () => {
  const reward: Effect = { session: 'a', kind: 'reward', steps: 0, defer: false };
  // A reward with nothing pending changes nothing: 0 or 1 of [reward, step] may have ran when a is still at 4.
  const ran = ranOf([[on('b')], [reward], [on('a')]], points([['a', 4, false], ['b', 0, false]]), points([['a', 4, false], ['b', 1, false]]));
  assert.deepEqual(ran, { fewest: 1, most: 2 });
  assert.deepEqual(fatesOf([true, false, true, false, true], ran), [{ lost: true }, 'resend', { lost: null }, 'resend', 'resend']);
  assert.deepEqual(fatesOf([false, true, true], { fewest: 2, most: 2 }), [{ lost: true }, { lost: true }, { lost: true }]);
  assert.deepEqual(fatesOf([true, false], null), [{ lost: null }, 'resend']);
  assert.equal(ranOf([[on('a')], [{ session: 'b', kind: 'opaque', steps: 0, defer: false }]], points([['a', 0, false]]), points([['a', 1, false]])), null, 'after a reset or set_weights nothing can be told');
});
