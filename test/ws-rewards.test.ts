/**
 * The rewards stream: one event per network step with the reward its
 * learning update used, whoever sent it (with the step, a deferred reward
 * over the WebSocket or REST, the 0 a pending update gets from the next
 * step), tagged with that step and in the order the updates ran; in JSON and
 * binary (a reward reads back exactly), every k steps, for observers,
 * replaced and stopped like the other streams, and thinned like them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DroppedNotice, RewardEvent } from '../src/api/ws.js';
import type { SessionSocket } from '../src/client/index.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';
import { liveServer, rawSocket, waitFor, type LiveServer } from './helpers/ws.js';
import { forTests } from './helpers/for-tests.js';

const rewardsOf = (events: RewardEvent[]) => events.map((e) => [e.step, e.reward, e.source]);

/**
 * One of each way a reward reaches an update, sent by `ctl`: with the step,
 * none (0), deferred, deferred and never sent (implicit 0), a reward per step
 * of a run, a run whose last step is deferred, and a reward over REST. Returns
 * the rewards every subscriber must see, in order.
 */
async function playEveryKind(srv: LiveServer, id: string, ctl: SessionSocket, mark: (what: string) => void = () => {}): Promise<(string | number)[][]> {
  await ctl.step({ inputs: { pre: [100, 0] }, reward: 2.5 });
  mark('reply 1');
  await ctl.step({});
  mark('reply 2');
  await ctl.step({ inputs: { pre: [100, 0] }, deferReward: true });
  mark('reply 3');
  await ctl.reward(-1);
  mark('reply reward');
  await ctl.step({ deferReward: true });
  mark('reply 4');
  await ctl.step({ reward: 0.1 });
  mark('reply 5');
  await ctl.step({ steps: 4, inputs: { pre: [100, 0] }, reward: [1, -2, 3e-30, -4e20] });
  mark('reply 9');
  await ctl.step({ steps: 3, reward: 0.5, deferReward: true });
  mark('reply 12');
  assert.equal((await srv.rest.reward(id, 100)).step, 12);
  return [
    [1, 2.5, 'step'],
    [2, 0, 'step'],
    [3, -1, 'deferred'],
    [4, 0, 'implicit'],
    [5, 0.1, 'step'],
    [6, 1, 'step'],
    [7, -2, 'step'],
    [8, 3e-30, 'step'],
    [9, -4e20, 'step'],
    [10, 0.5, 'step'],
    [11, 0.5, 'step'],
    [12, 100, 'deferred'],
  ];
}

describe('the rewards stream', () => {
  const srv = forTests(() => liveServer());

  test('every way a reward reaches an update gives one event, tagged with its step, in the order applied, around the step events', async () => {
    const { id } = await srv().rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 1 });
    const ctl = await srv().rest.socket(id);
    const log: string[] = [];
    const events: RewardEvent[] = [];
    ctl.on('spikes', (e) => log.push(`spikes ${e.step}`));
    ctl.on('reward', (e) => {
      events.push(e);
      log.push(`reward ${e.step}`);
    });
    assert.deepEqual(await ctl.subscribe({ stream: 'rewards' }), { stream: 'rewards', every: 1, format: 'json' });
    await ctl.subscribe({ stream: 'spikes', populations: ['post'] });
    const want = await playEveryKind(srv(), id, ctl, (what) => log.push(what));
    // The REST reward's event comes over the socket, the HTTP reply over its own connection.
    await waitFor(() => events.length === want.length, 'the REST reward on the socket');
    assert.deepEqual(rewardsOf(events), want);
    for (const e of events) assert.deepEqual(Object.keys(e), ['type', 'step', 'reward', 'source']);
    assert.deepEqual(log, [
      ...['spikes 1', 'reward 1', 'reply 1'],
      ...['spikes 2', 'reward 2', 'reply 2'],
      // Deferred: nothing until the reward comes, then its event before its reply.
      ...['spikes 3', 'reply 3', 'reward 3', 'reply reward'],
      // Never rewarded: the next step completes the update with 0 before it runs its populations.
      ...['spikes 4', 'reply 4', 'reward 4', 'spikes 5', 'reward 5', 'reply 5'],
      ...['spikes 6', 'reward 6', 'spikes 7', 'reward 7', 'spikes 8', 'reward 8', 'spikes 9', 'reward 9', 'reply 9'],
      ...['spikes 10', 'reward 10', 'spikes 11', 'reward 11', 'spikes 12', 'reply 12'],
      'reward 12',
    ]);
    // A reset drops the pending update: it used no reward, so there is no event.
    await ctl.step({ deferReward: true });
    await ctl.reset();
    await ctl.step({ reward: 3 });
    assert.deepEqual(rewardsOf(events.slice(want.length)), [[1, 3, 'step']]);
    await ctl.close();
  });

  test('binary: a 44-byte frame per reward (kind 6, one reward section), the very values JSON carries, exactly', async () => {
    const { id } = await srv().rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 2 });
    const raw = await rawSocket(`${srv().wsBase}/v1/sessions/${id}/ws?role=observer&format=binary`);
    await raw.next();
    raw.ws.send(JSON.stringify({ type: 'subscribe', id: 's', stream: 'rewards' }));
    const [sub] = await raw.next();
    assert.deepEqual(sub.result, { stream: 'rewards', every: 1, format: 'binary' });
    // The typed client decodes binary events into the JSON shapes.
    const json = await srv().rest.socket(id, { role: 'observer' });
    const bin = await srv().rest.socket(id, { role: 'observer', format: 'binary' });
    const fromJson: RewardEvent[] = [];
    const fromBinary: RewardEvent[] = [];
    json.on('reward', (e) => fromJson.push(e));
    bin.on('reward', (e) => fromBinary.push(e));
    await json.subscribe({ stream: 'rewards' });
    assert.deepEqual(await bin.subscribe({ stream: 'rewards' }), { stream: 'rewards', every: 1, format: 'binary' });
    const ctl = await srv().rest.socket(id);
    const want = await playEveryKind(srv(), id, ctl);
    const frames = await raw.next(want.length);
    await waitFor(() => fromJson.length === want.length && fromBinary.length === want.length, 'every observer to have every reward');
    assert.deepEqual(rewardsOf(fromJson), want);
    assert.deepEqual(fromBinary, fromJson, 'binary gives the JSON events, float64 exact');
    for (const [k, f] of frames.entries()) {
      const b = f.binary;
      assert.deepEqual(
        { kind: b.kind, step: b.step, steps: b.steps, pending: b.pending, id: b.id, sections: b.sections },
        { kind: 'rewardEvent', step: want[k][0], steps: 0, pending: false, id: undefined, sections: [{ type: 'reward', index: 0, reward: want[k][1], source: want[k][2] }] },
      );
    }
    // The bytes themselves: header, then the section (type 5, source code in a, f64 payload).
    const bytes = await new Promise<Buffer>((resolve) => {
      raw.ws.once('message', (d) => resolve(d as Buffer));
      void ctl.step({ reward: -0.75 });
    });
    assert.equal(bytes.length, 44);
    assert.deepEqual([bytes[0], bytes[1], bytes.readUInt16LE(2), bytes.readUInt32LE(4), bytes.readDoubleLE(8), bytes.readUInt32LE(16), bytes.readUInt32LE(20)], [1, 6, 0, 0, 13, 0, 1]);
    assert.deepEqual([bytes[24], bytes[25], bytes.readUInt16LE(26), bytes.readUInt32LE(28), bytes.readUInt32LE(32), bytes.readDoubleLE(36)], [5, 0, 0, 1, 0, -0.75]);
    await Promise.all([ctl.close(), json.close(), bin.close()]);
    raw.ws.close();
  });

  test('observers: every k steps (a deferred or implicit reward counts at its own step), replaced, stopped; no selection', async () => {
    const { id } = await srv().rest.createSession({ network: SEED_MSTDP_NETWORK, seed: 3 });
    const ctl = await srv().rest.socket(id);
    const obs = await srv().rest.socket(id, { role: 'observer' });
    const events: RewardEvent[] = [];
    obs.on('reward', (e) => events.push(e));
    // A round trip on the observer: whatever the controller's steps sent it has arrived by its reply.
    const synced = () => obs.weights();
    assert.deepEqual(await obs.subscribe({ stream: 'rewards', every: 5 }), { stream: 'rewards', every: 5, format: 'json' });
    await ctl.step({ steps: 12, reward: Array.from({ length: 12 }, (_, t) => t + 1) });
    await ctl.step({ steps: 3, deferReward: true, reward: [13, 14] });
    await ctl.reward(15);
    await ctl.step({ steps: 5, deferReward: true, reward: [16, 17, 18, 19] });
    await ctl.step({ reward: 21 });
    await synced();
    assert.deepEqual(rewardsOf(events), [
      [5, 5, 'step'],
      [10, 10, 'step'],
      [15, 15, 'deferred'],
      [20, 0, 'implicit'],
    ]);

    // Subscribing again replaces the subscription.
    assert.deepEqual(await obs.subscribe({ stream: 'rewards', every: 2, format: 'binary' }), { stream: 'rewards', every: 2, format: 'binary' });
    events.length = 0;
    await ctl.step({ steps: 4, reward: 1 });
    await synced();
    assert.deepEqual(rewardsOf(events), [
      [22, 1, 'step'],
      [24, 1, 'step'],
    ]);

    // Stopped: no more events, and the reply says which stream stopped.
    assert.deepEqual(await obs.unsubscribe('rewards'), { streams: ['rewards'], dropped: 0 });
    events.length = 0;
    await ctl.step({ steps: 4, reward: 1, deferReward: true });
    await ctl.reward(2);
    await synced();
    assert.deepEqual(events, []);
    assert.deepEqual(srv().app.websockets.connectionsOf(id).find((c) => c.role === 'observer')!.subscriptions, []);

    // One reward per step for the whole network: nothing to select.
    await assert.rejects(obs.subscribe({ stream: 'rewards', populations: ['post'] }), { code: 'REQUEST_INVALID', message: /^populations: the rewards stream has no selection/ });
    await assert.rejects(obs.subscribe({ stream: 'rewards', connections: ['pre_post'] }), { code: 'REQUEST_INVALID', message: /^connections: / });
    await assert.rejects(obs.subscribe({ stream: 'rewards', every: 0 }), { code: 'REQUEST_INVALID', message: /every: / });
    await Promise.all([ctl.close(), obs.close()]);
  });
});

test('an observer that does not read: its rewards are dropped and counted with its other events, and what gets through is right', async () => {
  const sendBuffer = 256 * 1024;
  const srv = await liveServer({ wsSendBufferBytes: sendBuffer });
  try {
    // Weights events of about 600 kB fill the buffer in a few steps; the rewards share its fate.
    const n = 200;
    const network = { dt: 1, populations: { pre: { n }, post: { n } }, connections: { pre_post: { pre: 'pre', post: 'post', w_min: 0, w_max: 1, rule: { type: 'MSTDP' } } } };
    const { id } = await srv.rest.createSession({ network, seed: 1 });
    const eventBytes = JSON.stringify({ type: 'weights', step: 1000, pending: false, weights: (await srv.rest.weights(id)).weights }).length;
    const obs = await srv.rest.socket(id, { role: 'observer' });
    const rewards: RewardEvent[] = [];
    const notices: DroppedNotice[] = [];
    let weights = 0;
    obs.on('reward', (e) => rewards.push(e));
    obs.on('weights', () => weights++);
    obs.on('dropped', (d) => notices.push(d));
    await obs.subscribe({ stream: 'weights' });
    await obs.subscribe({ stream: 'rewards' });
    obs.pause();
    const ctl = await srv.rest.socket(id);
    const N = 300;
    // Step t is rewarded t: any event that gets through says which step it belongs to.
    const replies = await Promise.all(Array.from({ length: N }, (_, t) => ctl.step({ inputs: { pre: 10 }, reward: t + 1, return: { spikes: 'none' } })));
    assert.deepEqual(
      replies.map((r) => r.step),
      Array.from({ length: N }, (_, t) => t + 1),
    );
    const info = srv.app.websockets.connectionsOf(id).find((c) => c.role === 'observer')!;
    assert.ok(info.eventsDropped > 0, 'events were dropped');
    assert.equal(info.eventsSent + info.eventsDropped, 2 * N, 'each step built at most one event per stream, and only for a socket that could take it');
    // Past the limit by at most the step's weights event and its reward event.
    assert.ok(info.maxBuffered <= sendBuffer + eventBytes + 256, `the send buffer peaked at ${info.maxBuffered} bytes`);

    obs.resume();
    await waitFor(() => weights + rewards.length === info.eventsSent, 'the events that were sent');
    assert.ok(rewards.length > 0 && rewards.length < N, `${rewards.length} rewards got through`);
    for (const e of rewards) assert.deepEqual([e.reward, e.source], [e.step, 'step']);
    assert.deepEqual(
      rewards.map((e) => e.step),
      [...new Set(rewards.map((e) => e.step))].sort((a, b) => a - b),
      'in step order, none twice',
    );
    await waitFor(() => srv.app.websockets.connectionsOf(id).find((c) => c.role === 'observer')!.bufferedAmount === 0, 'the buffer to drain');
    await obs.unsubscribe('weights');
    await ctl.step({ reward: -5 });
    await waitFor(() => rewards.length > 0 && rewards[rewards.length - 1].step === N + 1, 'the next reward');
    assert.deepEqual(notices, [{ type: 'dropped', count: info.eventsDropped, total: info.eventsDropped, step: N }]);
    assert.deepEqual(rewards[rewards.length - 1], { type: 'reward', step: N + 1, reward: -5, source: 'step' });
    assert.deepEqual(await obs.unsubscribe(), { streams: ['rewards'], dropped: info.eventsDropped });
    await Promise.all([obs.close(), ctl.close()]);
  } finally {
    await srv.close();
  }
});
