/**
 * Concurrency over real connections: many sessions stepped in parallel by
 * many clients give each the result it gets stepped alone, and a long run on
 * one session does not hold up requests on the others.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { Rng } from '../src/engine/random.js';
import { makeApp } from './helpers/http.js';

const NET = {
  dt: 0.5,
  populations: { inp: { n: 6, refrac_length: 1 }, out: { n: 3, refrac_length: 0 } },
  connections: {
    io: { pre: 'inp', post: 'out', w_max: 4, rule: { type: 'MSTDP', lr: [0.02, 0] } },
    oo: { pre: 'out', post: 'out', w_max: 1, rule: { type: 'STDP', lr: [0.01, 0.01] } },
  },
};

type Command = { method: 'post' | 'get' | 'put'; path: string; body?: unknown };

/** A client's deterministic command stream: steps (some deferred, then rewarded), weight reads and writes. */
function script(seed: number, length: number): Command[] {
  const rng = new Rng(seed);
  const r = () => rng.nextFloat();
  const out: Command[] = [];
  for (let k = 0; k < length; k++) {
    const x = r();
    if (x < 0.6) {
      const steps = 1 + Math.floor(r() * 20);
      out.push({ method: 'post', path: 'step', body: { steps, inputs: { inp: Array.from({ length: 6 }, () => Math.round(r() * 400) / 100) }, reward: Math.round((r() * 2 - 1) * 100) / 100, return: { weights: true, potentials: true } } });
    } else if (x < 0.8) {
      out.push({ method: 'post', path: 'step', body: { inputs: { inp: 3 }, deferReward: true } });
      out.push({ method: 'post', path: 'reward', body: { reward: Math.round((r() * 2 - 1) * 100) / 100 } });
    } else if (x < 0.9) {
      out.push({ method: 'get', path: 'state' });
    } else {
      out.push({ method: 'put', path: 'weights/oo', body: { weights: [[0, r(), r()], [r(), 0, r()], [r(), r(), 0]] } });
    }
  }
  return out;
}

async function play(agent: supertest.Agent, id: string, commands: Command[]): Promise<unknown[]> {
  const results: unknown[] = [];
  for (const c of commands) {
    const url = `/v1/sessions/${id}/${c.path}`;
    const req = c.method === 'get' ? agent.get(url) : c.method === 'put' ? agent.put(url).send(c.body as object) : agent.post(url).send(c.body as object);
    const res = await req;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    results.push(res.body);
  }
  return results;
}

describe('concurrency', () => {
  let app: FastifyInstance;
  let base: string;
  before(async () => {
    app = await makeApp({ maxStepsPerCall: 10_000_000, stepSliceMs: 5 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(() => app.close());

  const create = async (agent: supertest.Agent, seed: number) => {
    const r = await agent.post('/v1/sessions').send({ network: NET, seed });
    assert.equal(r.status, 201);
    return r.body.id as string;
  };

  test('24 sessions stepped in parallel by 24 clients each get what they get alone', async () => {
    const clients = 24;
    const scripts = Array.from({ length: clients }, (_, i) => script(100 + i, 40));
    const parallel = await Promise.all(
      scripts.map(async (cmds, i) => {
        const agent = supertest.agent(base);
        return play(agent, await create(agent, i), cmds);
      }),
    );
    const agent = supertest.agent(base);
    for (let i = 0; i < clients; i++) {
      const alone = await play(agent, await create(agent, i), scripts[i]);
      assert.deepEqual(parallel[i], alone, `client ${i}`);
    }
  });

  test('a long run on one session does not hold up requests on the others', async () => {
    const agent = supertest.agent(base);
    const busy = await create(agent, 1);
    const other = await create(agent, 2);
    const events: string[] = [];
    const long = agent
      .post(`/v1/sessions/${busy}/step`)
      .send({ steps: 6_000_000, return: { spikes: 'none' } })
      .then((r) => {
        assert.equal(r.status, 200);
        events.push('long');
      });
    const quickAgent = supertest.agent(base);
    for (let i = 0; i < 20; i++) {
      const r = await quickAgent.post(`/v1/sessions/${other}/step`).send({ inputs: { inp: 1 } });
      assert.equal(r.status, 200);
      events.push('quick');
    }
    // The busy session's own reads wait for its run: they never see half of it.
    const state = await quickAgent.get(`/v1/sessions/${busy}`);
    assert.equal(state.body.step, 6_000_000);
    await long;
    assert.deepEqual(events.slice(0, 20), new Array(20).fill('quick'), 'every quick request was answered before the long run ended');
  });
});
