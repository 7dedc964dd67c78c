/**
 * What the TypeScript client makes of the commands a dropped socket left
 * without a reply (src/client/resume.ts, the Python client's rules): the one
 * prefix of the unanswered commands that gives the new hello's (step,
 * pending) ran; after a reset or set_weights, or with no single match, the
 * fate of each command that changes the session is unknown.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appliedPrefix, fates, type Unanswered } from '../src/client/resume.js';

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
