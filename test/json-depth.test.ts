/** The nesting-depth check that runs before a JSON body or WebSocket message is parsed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nestsDeeperThan } from '../src/http/json-body.js';
import { parseMessage } from '../src/ws/message-parser.js';

test('depth counts arrays and objects, not brackets inside strings, in text and in bytes', () => {
  const deep = '{"a":' + '['.repeat(40) + ']'.repeat(40) + '}';
  assert.equal(nestsDeeperThan(deep, 41), false);
  assert.equal(nestsDeeperThan(deep, 40), true);
  assert.equal(nestsDeeperThan(Buffer.from(deep), 40), true);
  const quoted = JSON.stringify({ s: '[[[[[[[[[[ "{{{{{{ \\" [[[[' });
  assert.equal(nestsDeeperThan(quoted, 1), false);
  assert.equal(nestsDeeperThan(Buffer.from(quoted), 1), false);
  assert.equal(nestsDeeperThan('[[1],[2],[3]]', 2), false);
});

test('a WebSocket message nested too deep is MESSAGE_INVALID naming the limit, before it is parsed', () => {
  const r = parseMessage(Buffer.from('{"type":"step","inputs":' + '['.repeat(100_000)), false, 32);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, 'MESSAGE_INVALID');
  assert.equal(r.error.details?.limit, 'maxJsonDepth');
  assert.match(r.error.message, /MAX_JSON_DEPTH/);
  const fine = parseMessage(Buffer.from(JSON.stringify({ type: 'step', inputs: { a: [[1, 2]] } })), false, 32);
  assert.equal(fine.ok, true);
});
