/**
 * Every golden case replayed over the WebSocket, one step message per step
 * (at the quick depth, the first 100 steps so and the rest in one message),
 * gives the same spikes, weights and potentials as the engine alone
 * (replay()): in JSON exactly, in binary exactly up to float32 (each value is
 * the engine's rounded to float32). An observer subscribed to the spikes and
 * potentials streams sees the same run step by step. A batch's cases too:
 * their replies and events are per copy, in both formats.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CreateSessionBody } from '../src/api/sessions.js';
import type { StepResult } from '../src/api/step.js';
import type { PotentialsEvent, SpikesEvent } from '../src/api/ws.js';
import { replay, type ReplayCase } from '../src/engine/index.js';
import { atDepth } from './helpers/fuzz.js';
import { goldenFiles, loadGolden, stepsBody } from './helpers/golden.js';
import { assertClose } from './helpers/http.js';
import { liveServer, waitFor, type LiveServer } from './helpers/ws.js';

/** The case's network with its initial weights as the spec's `w`, as replay() builds it. */
function sessionBody(c: ReplayCase): CreateSessionBody {
  const network = structuredClone(c.network) as { connections?: Record<string, Record<string, unknown>> };
  for (const [name, w] of Object.entries(c.initial_weights ?? {})) network.connections![name].w = w;
  return { network: network as CreateSessionBody['network'], seed: c.seed ?? 0 };
}

/** As binary frames carry them: float32, at any depth (a batch's potentials are per copy). */
const f32 = (x: unknown): unknown => (Array.isArray(x) ? x.map(f32) : Math.fround(x as number));

describe('golden cases over the WebSocket', () => {
  let srv: LiveServer;
  before(async () => {
    srv = await liveServer();
  });
  after(() => srv.close());

  const files = goldenFiles();
  test('the golden directory has cases', () => assert.ok(files.length >= 10, `found ${files.length}`));

  for (const file of files) {
    const c = loadGolden(file) as unknown as ReplayCase & { expect: { spikes: Record<string, number[][]>; weights: Record<string, number[][]>; v: Record<string, number[]> } };
    // The engine's run of the case, made once for both formats.
    let run: ReturnType<typeof replay> | undefined;
    const reference = () => (run ??= replay(c));
    for (const format of ['json', 'binary'] as const) {
      test(`${file} over ${format}: spikes, weights and potentials equal the engine alone's`, async () => {
        const engine = reference();
        const { id } = await srv.rest.createSession(sessionBody(c));
        const observer = await srv.rest.socket(id, { role: 'observer', format });
        const seen: { spikes: SpikesEvent[]; potentials: PotentialsEvent[] } = { spikes: [], potentials: [] };
        observer.on('spikes', (e) => seen.spikes.push(e));
        observer.on('potentials', (e) => seen.potentials.push(e));
        await observer.subscribe({ stream: 'spikes' });
        await observer.subscribe({ stream: 'potentials' });
        const ctl = await srv.rest.socket(id, { format });
        assert.equal(ctl.hello.role, 'controller');
        assert.equal(ctl.hello.format, format);
        // At the quick depth (test/helpers/fuzz.ts) the first 100 steps a message each, the rest in one message.
        const single = atDepth(c.steps.length, Math.min(c.steps.length, 100));
        // Sent all at once: the replies come back in order.
        const replies: Promise<StepResult>[] = c.steps.slice(0, single).map((s, t) => {
          const body: Record<string, unknown> = {};
          if (s.inputs) body.inputs = s.inputs;
          if (s.reward !== undefined) body.reward = s.reward;
          if (t === c.steps.length - 1) body.return = { potentials: true, weights: true };
          return ctl.step(body);
        });
        if (single < c.steps.length) replies.push(ctl.step(stepsBody(c, single, c.steps.length)));
        const results = await Promise.all(replies);
        const pops = Object.keys(engine.spikes);
        const spikes = Object.fromEntries(pops.map((p) => [p, results.flatMap((r) => r.spikes![p] as unknown[])]));
        assert.deepEqual(spikes, engine.spikes);
        assert.deepEqual(spikes, c.expect.spikes);
        results.forEach((r, t) => assert.equal(r.step, t < single ? t + 1 : c.steps.length));
        const last = results[results.length - 1];
        for (const [name, w] of Object.entries(engine.weights)) {
          const want = format === 'json' ? w : f32(w);
          assert.deepEqual(last.weights![name], want, `${name}: weights`);
          assertClose(last.weights![name], c.expect.weights[name], 1e-4, `${file} weights ${name}`);
        }
        for (const [p, v] of Object.entries(engine.v)) {
          assert.deepEqual(last.potentials![p], format === 'json' ? v : f32(v), `${p}: potentials`);
        }
        await waitFor(() => seen.spikes.length === c.steps.length && seen.potentials.length === c.steps.length, 'every event');
        assert.deepEqual(
          seen.spikes.map((e) => e.step),
          c.steps.map((_, t) => t + 1),
        );
        for (const p of pops) assert.deepEqual(seen.spikes.map((e) => e.spikes[p]), engine.spikes[p], `stream of ${p}'s spikes`);
        const lastV = seen.potentials[seen.potentials.length - 1].potentials;
        for (const [p, v] of Object.entries(engine.v)) assert.deepEqual(lastV[p], format === 'json' ? v : f32(v), `stream of ${p}'s potentials`);
        await ctl.close();
        await observer.close();
        await srv.rest.deleteSession(id);
      });
    }
  }
});
