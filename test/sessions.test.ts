/**
 * The session manager and sessions without HTTP: limits, eviction of idle
 * sessions, the events a transport subscribes to, command ordering, and
 * deletion during a long run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SpikeserveError } from '../src/errors.js';
import { CommandQueue } from '../src/sessions/command-queue.js';
import { SessionManager, type SessionManagerOptions } from '../src/sessions/manager.js';
import type { StepView } from '../src/sessions/views.js';

// MSTDP, so that rewards and deferReward are in place.
const NET = {
  populations: { a: { n: 3, refrac_length: 0 }, b: { n: 2, refrac_length: 0 } },
  connections: { ab: { pre: 'a', post: 'b', w_max: 5, rule: { type: 'MSTDP', lr: [0.001, 0.002] } } },
};

function manager(over: Partial<SessionManagerOptions> = {}) {
  return new SessionManager({
    limits: { maxNeurons: 1000, maxSynapses: 100_000, maxStepsPerCall: 5_000_000, maxSpikeRecordsPerCall: 1_000_000 },
    maxSessions: 10,
    maxTotalSynapses: 1_000_000,
    idleTimeoutMs: 0,
    sliceMs: 2,
    ...over,
  });
}

describe('session manager', () => {
  test('evicts sessions idle past the timeout, never one with a command in flight, and says why', async () => {
    let now = 1_000_000;
    const m = manager({ idleTimeoutMs: 60_000, now: () => now });
    const idle = m.create({ network: NET });
    const used = m.create({ network: NET });
    const reasons: string[] = [];
    idle.on('closed', (r) => reasons.push(r));
    now += 30_000;
    await used.step({});
    now += 30_000;
    assert.deepEqual(m.evictIdle(), [idle.id]);
    assert.deepEqual(reasons, ['evicted']);
    assert.throws(() => m.get(idle.id), (e: SpikeserveError) => e.code === 'SESSION_NOT_FOUND');
    await assert.rejects(idle.step({}), (e: SpikeserveError) => e.code === 'SESSION_NOT_FOUND' && /evicted/.test(e.message));
    assert.equal(m.get(used.id), used);
    // A session busy with a long run is not idle, however long ago its run began.
    const run = used.step({ steps: 2_000_000, return: { spikes: 'none' } });
    now += 3_600_000;
    assert.deepEqual(m.evictIdle(), []);
    await run;
    // Idle time counts from the end of the run.
    assert.deepEqual(m.evictIdle(), []);
    now += 60_000;
    assert.deepEqual(m.evictIdle(), [used.id]);
    await m.close();
  });

  test('the eviction timer runs by itself and does not keep the process alive', async () => {
    const m = manager({ idleTimeoutMs: 100 });
    const s = m.create({ network: NET });
    const closed = new Promise((resolve) => s.on('closed', resolve));
    // The timer is unref'd: something else must keep the loop alive while we wait.
    const keepAlive = setTimeout(() => {}, 10_000);
    assert.equal(await closed, 'evicted');
    clearTimeout(keepAlive);
    assert.equal(m.size, 0);
    await m.close();
  });

  test('step events carry each step\'s spikes; closed events say deleted or shutdown', async () => {
    const m = manager();
    const s = m.create({ network: NET });
    const seen: { step: number; a: number[]; pending: boolean }[] = [];
    const off = s.on('step', (v: StepView) => seen.push({ step: v.step, a: v.spikes('a'), pending: v.pending }));
    const r = await s.step({ steps: 50, inputs: { a: [20, 0, 5] }, deferReward: true });
    assert.equal(seen.length, 50);
    assert.deepEqual(seen.map((e) => e.step), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.deepEqual(seen.map((e) => e.a), r.spikes!.a);
    assert.deepEqual(seen.map((e) => e.pending), [...new Array(49).fill(false), true]);
    off();
    await s.step({});
    assert.equal(seen.length, 50, 'unsubscribed');

    const events: string[] = [];
    m.on('created', (sess) => events.push(`${sess.id}:created`));
    m.on('closed', (sess, reason) => events.push(`${sess.id}:${reason}`));
    const t = m.create({ network: NET });
    await m.delete(s.id);
    await m.close();
    assert.deepEqual(events, [`${t.id}:created`, `${s.id}:deleted`, `${t.id}:shutdown`]);
  });

  test('a throwing listener is reported and does not break the command', async () => {
    const errors: unknown[] = [];
    const m = manager({ log: { info: () => {}, error: (obj) => errors.push(obj) } });
    const s = m.create({ network: NET });
    s.on('step', () => {
      throw new Error('listener bug');
    });
    const r = await s.step({ steps: 3 });
    assert.equal(r.step, 3);
    assert.equal(errors.length, 3);
    await m.close();
  });

  test('commands on one session run one at a time in arrival order, even across a sliced run', async () => {
    const m = manager();
    const s = m.create({ network: NET, seed: 4 });
    const ref = m.create({ network: NET, seed: 4 });
    // Fire without awaiting: a long sliced run, then short steps, a weight write and a read.
    const p1 = s.step({ steps: 300_000, inputs: { a: 3 }, return: { spikes: 'none' } });
    const p2 = s.step({ steps: 5, inputs: { a: [1, 2, 3] } });
    const p3 = s.setWeights('ab', [[1, 1], [2, 2], [3, 3]]);
    const p4 = s.step({ steps: 7, inputs: { a: 9 }, return: { weights: true } });
    const [r1, r2, , r4] = await Promise.all([p1, p2, p3, p4]);
    assert.equal(r1.step, 300_000);
    assert.equal(r2.step, 300_005);
    assert.equal(r4.step, 300_012);
    // The same commands one after another give the same.
    await ref.step({ steps: 300_000, inputs: { a: 3 }, return: { spikes: 'none' } });
    const q2 = await ref.step({ steps: 5, inputs: { a: [1, 2, 3] } });
    await ref.setWeights('ab', [[1, 1], [2, 2], [3, 3]]);
    const q4 = await ref.step({ steps: 7, inputs: { a: 9 }, return: { weights: true } });
    assert.deepEqual(r2, q2);
    assert.deepEqual(r4, q4);
    await m.close();
  });

  test('deleting a session stops its run at the next slice; its caller hears SESSION_NOT_FOUND', async () => {
    const m = manager();
    const s = m.create({ network: NET });
    const run = s.step({ steps: 5_000_000, return: { spikes: 'none' } });
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    await m.delete(s.id);
    await assert.rejects(run, (e: SpikeserveError) => e.code === 'SESSION_NOT_FOUND' && /deleted/.test(e.message));
    assert.ok(Date.now() - t0 < 1000, 'stopped promptly');
    assert.ok(s.stepCount < 5_000_000);
    await m.close();
  });

  test('a refused step changes nothing, whatever part of it is wrong', async () => {
    const m = manager({ limits: { maxNeurons: 1000, maxSynapses: 100_000, maxStepsPerCall: 100, maxSpikeRecordsPerCall: 50 } });
    const s = m.create({ network: NET });
    await s.step({ steps: 3, inputs: { a: 10 }, deferReward: true });
    const before = await s.snapshot();
    const bad = [
      { steps: 101 },
      { steps: 11 },
      { inputs: { a: [1, 2] } },
      { steps: 2, inputs: { a: [[1, 1, 1], [1, 1]] } },
      { reward: [1, 2] },
      { return: { populations: ['c'] } },
    ];
    for (const body of bad) await assert.rejects(s.step(body), SpikeserveError);
    assert.deepEqual(await s.snapshot(), before);
    await m.close();
  });

  test('synapses summed over sessions stay under MAX_TOTAL_SYNAPSES; deleting frees them', async () => {
    const m = manager({ maxTotalSynapses: 15 });
    const a = m.create({ network: NET });
    m.create({ network: NET });
    assert.equal(m.totalSynapses, 12);
    assert.throws(() => m.create({ network: NET }), (e: SpikeserveError) => e.code === 'LIMIT_EXCEEDED' && e.details?.limit === 'maxTotalSynapses' && /MAX_TOTAL_SYNAPSES/.test(e.message));
    assert.equal(m.size, 2);
    await m.delete(a.id);
    assert.equal(m.totalSynapses, 6);
    m.create({ network: NET });
    assert.equal(m.totalSynapses, 12);
    await m.close();
    assert.equal(m.totalSynapses, 0);
  });

  test('create: limits and refusals', async () => {
    const m = manager({ maxSessions: 1 });
    assert.throws(() => m.create({}), (e: SpikeserveError) => e.code === 'REQUEST_INVALID');
    m.create({ network: NET });
    assert.throws(() => m.create({ network: NET }), (e: SpikeserveError) => e.code === 'LIMIT_EXCEEDED' && e.details?.limit === 'maxSessions');
    await m.close();
    assert.throws(() => m.create({ network: NET }), (e: SpikeserveError) => e.code === 'SHUTTING_DOWN');
  });
});

describe('command queue', () => {
  test('runs a task at once when idle, queues behind a running one, keeps order, survives failures', async () => {
    const q = new CommandQueue();
    const order: string[] = [];
    let release!: () => void;
    const slow = q.run(() => new Promise<void>((r) => (release = r)).then(() => order.push('slow')));
    const failing = q.run(() => {
      order.push('failing');
      throw new Error('boom');
    });
    const fast = q.run(() => order.push('fast'));
    assert.equal(q.size, 3);
    assert.deepEqual(order, []);
    release();
    await slow;
    await assert.rejects(failing, /boom/);
    await fast;
    assert.deepEqual(order, ['slow', 'failing', 'fast']);
    await q.drained();
    assert.equal(q.size, 0);
    let ran = false;
    const p = q.run(() => (ran = true));
    assert.equal(ran, true, 'an idle queue runs the task synchronously');
    await p;
  });
});
