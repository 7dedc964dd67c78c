/**
 * Concurrency over real connections: many sessions stepped in parallel by
 * many clients give each the result it gets stepped alone, and a long run on
 * one session does not hold up requests on the others. Each client keeps
 * one connection open (keep-alive), as an agent stepping a session does.
 * At the quick depth (test/helpers/fuzz.ts) each client sends 10 of its 40
 * commands.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Client } from 'undici';
import { Rng } from '../src/engine/random.js';
import { atDepth } from './helpers/fuzz.js';
import { makeApp } from './helpers/http.js';

const NET = {
  dt: 0.5,
  populations: { inp: { n: 6, refrac_length: 1 }, out: { n: 3, refrac_length: 0 } },
  connections: {
    io: { pre: 'inp', post: 'out', w_max: 4, rule: { type: 'MSTDP', lr: [0.02, 0] } },
    oo: { pre: 'out', post: 'out', w_max: 1, rule: { type: 'STDP', lr: [0.01, 0.01] } },
  },
};

/** Steps of the long run: it outlasts the 20 quick requests many times over, on a loaded machine too. */
const LONG_RUN = 6_000_000;

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

/** A client of its own: one keep-alive connection to the server, JSON in and out. */
class Agent {
  private readonly client: Client;
  constructor(base: string) {
    this.client = new Client(base);
  }

  async send(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const r = await this.client.request(
      body === undefined ? { method, path } : { method, path, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
    );
    return { status: r.statusCode, body: await r.body.json() };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

async function play(agent: Agent, id: string, commands: Command[]): Promise<unknown[]> {
  const results: unknown[] = [];
  for (const c of commands) {
    const res = await agent.send(c.method === 'get' ? 'GET' : c.method === 'put' ? 'PUT' : 'POST', `/v1/sessions/${id}/${c.path}`, c.body);
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

  /** Every client a test opens, closed after it. */
  const agents: Agent[] = [];
  const agent = () => agents[agents.push(new Agent(base)) - 1];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.close()));
  });

  const create = async (agent: Agent, seed: number) => {
    const r = await agent.send('POST', '/v1/sessions', { network: NET, seed });
    assert.equal(r.status, 201);
    return r.body.id as string;
  };

  test('24 sessions stepped in parallel by 24 clients each get what they get alone', async () => {
    const clients = 24;
    const scripts = Array.from({ length: clients }, (_, i) => script(100 + i, atDepth(40, 10)));
    const parallel = await Promise.all(
      scripts.map(async (cmds, i) => {
        const mine = agent();
        return play(mine, await create(mine, i), cmds);
      }),
    );
    const alone = agent();
    for (let i = 0; i < clients; i++) {
      assert.deepEqual(parallel[i], await play(alone, await create(alone, i), scripts[i]), `client ${i}`);
    }
  });

  test('a long run on one session does not hold up requests on the others', async (t) => {
    const busyAgent = agent();
    const busy = await create(busyAgent, 1);
    const other = await create(busyAgent, 2);
    const events: string[] = [];
    const t0 = performance.now();
    const long = busyAgent.send('POST', `/v1/sessions/${busy}/step`, { steps: LONG_RUN, return: { spikes: 'none' } }).then((r) => {
      assert.equal(r.status, 200);
      events.push('long');
      t.diagnostic(`long run: ${(performance.now() - t0).toFixed(0)} ms`);
    });
    const quickAgent = agent();
    for (let i = 0; i < 20; i++) {
      const r = await quickAgent.send('POST', `/v1/sessions/${other}/step`, { inputs: { inp: 1 } });
      assert.equal(r.status, 200);
      events.push('quick');
    }
    t.diagnostic(`20 quick requests: ${(performance.now() - t0).toFixed(0)} ms`);
    // The busy session's own reads wait for its run: they never see half of it.
    const state = await quickAgent.send('GET', `/v1/sessions/${busy}`);
    assert.equal(state.body.step, LONG_RUN);
    await long;
    assert.deepEqual(events.slice(0, 20), new Array(20).fill('quick'), 'every quick request was answered before the long run ended');
  });
});
