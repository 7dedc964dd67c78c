/**
 * What Python's json.dumps writes for a float that is not finite (NaN,
 * Infinity, -Infinity) is not JSON: the reply says so, and where. A literal
 * that JSON can only read as Infinity (1e400) and a number past a limit
 * (1e31 as an input) are named by their field and index, with the limit.
 * Over HTTP and WebSocket alike.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { liveServer, rawSocket, type LiveServer } from './helpers/ws.js';

let srv: LiveServer;
let id: string;
before(async () => {
  srv = await liveServer();
  ({ id } = await srv.rest.createSession({ network: { populations: { a: { n: 3 } }, connections: { aa: { pre: 'a', post: 'a', rule: { type: 'MSTDP' } } } } }));
});
after(() => srv.close());

async function post(path: string, payload: string) {
  const r = await srv.app.inject({ method: 'POST', url: path, payload, headers: { 'content-type': 'application/json' } });
  return { status: r.statusCode, body: r.json() };
}

const NAN_CASES: [string, string][] = [
  ['NaN', '{"inputs": {"a": [1, NaN, 0]}}'],
  ['Infinity', '{"reward": Infinity}'],
  ['-Infinity', '{"inputs": {"a": -Infinity}}'],
  ['NaN', '{"inputs": {"a": [0, 0, 0]},\n "reward": NaN}'],
];

test('HTTP: NaN and Infinity are named with their position, and why they are refused', async () => {
  for (const [token, body] of NAN_CASES) {
    const position = body.indexOf(token);
    const r = await post(`/v1/sessions/${id}/step`, body);
    assert.equal(r.status, 400, body);
    assert.equal(r.body.error.code, 'REQUEST_INVALID');
    assert.equal(
      r.body.error.message.split(' (Python')[0],
      `body: not valid JSON: ${token} at position ${position} (line ${body.slice(0, position).split('\n').length}, column ${position - body.lastIndexOf('\n', position - 1)}): NaN and Infinity are not JSON; send finite numbers`,
    );
  }
  // A "NaN" inside a string is not the problem: other syntax errors keep the parser's words.
  const r = await post(`/v1/sessions/${id}/step`, '{"inputs": {"NaN": 1}');
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /^body: not valid JSON \(/);
});

test('HTTP: a number JSON reads as Infinity, and one past the limit, are named by field and index with the limit', async () => {
  let r = await post(`/v1/sessions/${id}/step`, '{"inputs": {"a": [0, 1e400, 0]}}');
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'INPUT_INVALID');
  assert.match(r.body.error.message, /^inputs\.a\[1\]: a number too large for a double \(it reads as Infinity\); .*at most 1e30/);
  r = await post(`/v1/sessions/${id}/step`, '{"steps": 2, "reward": [0, -1e999]}');
  assert.equal(r.body.error.code, 'INPUT_INVALID');
  assert.match(r.body.error.message, /^reward\[1\]: a number too large/);
  r = await post('/v1/sessions', '{"network": {"populations": {"a": {"n": 1, "R": 1e999}}}}');
  assert.equal(r.body.error.code, 'SPEC_INVALID');
  assert.match(r.body.error.message, /^network\.populations\.a\.R: a number too large/);
  r = await post(`/v1/sessions/${id}/step`, '{"inputs": {"a": [0, 0, 1e31]}}');
  assert.equal(r.body.error.code, 'INPUT_INVALID');
  assert.equal(r.body.error.message, 'inputs.a[2]: must be a finite number of magnitude at most 1e+30');
  assert.equal((await srv.app.inject({ method: 'GET', url: `/v1/sessions/${id}` })).json().step, 0, 'nothing ran');
});

test('WebSocket: the same, as error replies; the socket and session go on', async () => {
  const s = await rawSocket(`${srv.wsBase}/v1/sessions/${id}/ws`);
  await s.next();
  const text = '{"type": "step", "reward": NaN}';
  s.ws.send(text);
  let [m] = await s.next();
  assert.equal(m.type, 'error');
  assert.equal(m.error.code, 'MESSAGE_INVALID');
  assert.match(m.error.message, /^not valid JSON: NaN at position 27 \(line 1, column 28\): NaN and Infinity are not JSON; send finite numbers/);
  assert.equal(m.error.details.position, 27);
  s.ws.send('{"type": "step", "id": 4, "inputs": {"a": [0, 1e400, 0]}}');
  [m] = await s.next();
  assert.equal(m.id, 4);
  assert.equal(m.error.code, 'INPUT_INVALID');
  assert.match(m.error.message, /^inputs\.a\[1\]: a number too large for a double/);
  s.ws.send('{"type": "step", "id": 5, "inputs": {"a": [0, 0, -1e31]}}');
  [m] = await s.next();
  assert.equal(m.error.message, 'inputs.a[2]: must be a finite number of magnitude at most 1e+30');
  s.ws.send('{"type": "step", "id": 6, "inputs": {"a": 1}}');
  [m] = await s.next();
  assert.equal(m.type, 'reply');
  assert.equal(m.result.step, 1);
  s.ws.close();
});
