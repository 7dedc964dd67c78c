/**
 * Names that are also properties of every JavaScript object ("constructor",
 * "toString", "__proto__", ...) are looked up as names, never as Object's
 * members: undeclared, they get the same 4xx as any unknown name, in every
 * place a name is looked up (specs, snapshots, replay cases, inputs, return
 * selections, URLs, WebSocket messages); declared (where the name pattern
 * allows), they work like any other name.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Network, replay } from '../src/engine/index.js';
import { SpikeserveError } from '../src/errors.js';
import { call, createSession, makeApp } from './helpers/http.js';
import { liveServer, rawSocket } from './helpers/ws.js';
import { forTests } from './helpers/for-tests.js';

const NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__proto__', '__defineGetter__', 'propertyIsEnumerable'];
const NET = { populations: { a: { n: 2 }, b: { n: 1 } }, connections: { ab: { pre: 'a', post: 'b', rule: { type: 'STDP', lr: 0.01 } } } };

function engineError(fn: () => unknown): SpikeserveError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SpikeserveError, `expected a SpikeserveError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

/** JSON text with `key` as a real own key, whatever it is (JSON.stringify of an object literal would drop __proto__). */
function withKey(json: string, placeholder: string, key: string): string {
  return json.replace(JSON.stringify(placeholder), JSON.stringify(key));
}

describe('engine', () => {
  for (const name of NAMES) {
    test(`a connection from or to an undeclared "${name}" is SPEC_INVALID`, () => {
      for (const end of ['pre', 'post'] as const) {
        const spec = { populations: { a: { n: 1 } }, connections: { c: { pre: 'a', post: 'a', [end]: name } } };
        const e = engineError(() => Network.create(spec));
        assert.equal(e.code, 'SPEC_INVALID');
        assert.match(e.message, new RegExp(`^network\\.connections\\.c\\.${end}: `));
      }
    });

    test(`inputs for an undeclared "${name}" are INPUT_INVALID, on a step and on a run`, () => {
      const net = Network.create(NET);
      const inputs = JSON.parse(withKey('{"X": 1}', 'X', name));
      assert.equal(engineError(() => net.step(inputs)).code, 'INPUT_INVALID');
      assert.equal(engineError(() => net.run({ steps: 2, inputs })).code, 'INPUT_INVALID');
      assert.equal(net.stepCount, 0);
    });

    test(`a snapshot with an extra population or connection "${name}" is SNAPSHOT_INVALID`, () => {
      for (const part of ['populations', 'connections'] as const) {
        const snap = Network.create(NET).snapshot();
        const json = JSON.stringify(snap);
        // The state's own map: the last "populations" / "connections" key in the text.
        const at = json.lastIndexOf(`"${part}":{`) + `"${part}":{`.length;
        // Well formed, so that only the name is wrong.
        const entry = part === 'populations' ? '{"v":[],"refrac":[],"traces":[],"spikes":[]}' : '{"w":[],"scale":1,"rule":{}}';
        const text = `${json.slice(0, at)}"X":${entry},${json.slice(at)}`;
        const e = engineError(() => Network.fromSnapshot(JSON.parse(withKey(text, 'X', name))));
        assert.equal(e.code, 'SNAPSHOT_INVALID', e.message);
        assert.match(e.message, new RegExp(`^snapshot\\.state\\.${part}\\.${name.replace(/\$/g, '\\$')}: not in the network`));
      }
    });

    test(`a replay case with initial weights for an undeclared "${name}" is REPLAY_CASE_INVALID`, () => {
      const text = withKey(JSON.stringify({ network: NET, initial_weights: { X: [[1], [1]] }, steps: [{}] }), 'X', name);
      const e = engineError(() => replay(JSON.parse(text)));
      assert.equal(e.code, 'REPLAY_CASE_INVALID');
      assert.equal(({} as Record<string, unknown>).w, undefined, 'nothing was written onto Object.prototype');
    });
  }

  test('populations and connections may be named like Object\'s members, and work as any name', () => {
    const spec = {
      populations: { constructor: { n: 2, refrac_length: 0 }, toString: { n: 1, refrac_length: 0 } },
      connections: { valueOf: { pre: 'constructor', post: 'toString', w: [[1], [1]], rule: { type: 'STDP', lr: 0.01 } } },
    };
    const net = Network.create(spec);
    for (let t = 0; t < 5; t++) net.step({ constructor: 100 });
    assert.ok(net.spikes('toString').length > 0 || net.spikes('constructor').length > 0);
    const copy = Network.fromSnapshot(JSON.parse(JSON.stringify(net.snapshot())));
    assert.deepEqual(copy.weights('valueOf'), net.weights('valueOf'));
  });
});

describe('HTTP', () => {
  const app = forTests(() => makeApp());

  async function raw(method: 'POST' | 'PUT', url: string, payload: string) {
    const r = await app().inject({ method, url, payload, headers: { 'content-type': 'application/json' } });
    return { status: r.statusCode, body: r.json() };
  }

  for (const name of NAMES) {
    test(`"${name}": refused with a 4xx naming it in specs, inputs, return selections, snapshots and URLs`, async () => {
      // A spec whose connection names it.
      let r = await raw('POST', '/v1/sessions', withKey(JSON.stringify({ network: { populations: { a: { n: 1 } }, connections: { c: { pre: 'X', post: 'a' } } } }), 'X', name));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'SPEC_INVALID');

      const id = await createSession(app(), { network: NET });
      // Inputs keyed by it (the JSON parser refuses a __proto__ key outright).
      r = await raw('POST', `/v1/sessions/${id}/step`, withKey('{"inputs": {"X": 1}}', 'X', name));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, name === '__proto__' ? 'REQUEST_INVALID' : 'INPUT_INVALID');
      r = await raw('POST', `/v1/sessions/${id}/step`, JSON.stringify({ return: { populations: [name] } }));
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'INPUT_INVALID');

      // A snapshot with an extra population named so.
      const snap = (await call(app(), 'GET', `/v1/sessions/${id}/snapshot`)).body;
      const text = JSON.stringify({ snapshot: snap }).replace('"state":{"populations":{', '"state":{"populations":{"X":{"v":[],"refrac":[],"traces":[],"spikes":[]},');
      r = await raw('POST', '/v1/sessions', withKey(text, 'X', name));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, name === '__proto__' ? 'REQUEST_INVALID' : 'SNAPSHOT_INVALID');

      // A connection named so in a URL.
      const url = `/v1/sessions/${id}/weights/${encodeURIComponent(name)}`;
      assert.equal((await call(app(), 'GET', url)).status, 404);
      const put = await call(app(), 'PUT', url, { weights: [[1], [1]] });
      assert.equal(put.status, 404);
      assert.equal(put.body.error.code, 'CONNECTION_NOT_FOUND');
      assert.equal((await call(app(), 'GET', `/v1/sessions/${id}`)).body.step, 0, 'nothing ran');
    });
  }
});

describe('WebSocket', () => {
  const srv = forTests(() => liveServer());

  test('every such name gets its 4xx in steps, weights, set_weights and subscribe; the socket and session go on', async () => {
    const { id } = await srv().rest.createSession({ network: NET });
    const s = await rawSocket(`${srv().wsBase}/v1/sessions/${id}/ws`);
    await s.next();
    for (const name of NAMES) {
      const cases: [string, string][] = [
        [withKey('{"type": "step", "inputs": {"X": 1}}', 'X', name), 'INPUT_INVALID'],
        [JSON.stringify({ type: 'step', return: { populations: [name] } }), 'INPUT_INVALID'],
        [JSON.stringify({ type: 'weights', connection: name }), 'CONNECTION_NOT_FOUND'],
        [JSON.stringify({ type: 'set_weights', connection: name, weights: [[1], [1]] }), 'CONNECTION_NOT_FOUND'],
        [JSON.stringify({ type: 'subscribe', stream: 'spikes', populations: [name] }), 'POPULATION_NOT_FOUND'],
        [JSON.stringify({ type: 'subscribe', stream: 'weights', connections: [name] }), 'CONNECTION_NOT_FOUND'],
      ];
      for (const [text, code] of cases) {
        s.ws.send(text);
        const [m] = await s.next();
        assert.equal(m.type, 'error', `${name}: ${text} -> ${JSON.stringify(m)}`);
        assert.equal(m.error.code, code, `${name}: ${text} -> ${JSON.stringify(m)}`);
      }
    }
    s.ws.send(JSON.stringify({ type: 'step', inputs: { a: 1 } }));
    const [ok] = await s.next();
    assert.equal(ok.type, 'reply');
    assert.equal(ok.result.step, 1);
    s.ws.close();
  });
});
