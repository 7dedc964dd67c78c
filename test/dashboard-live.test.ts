/**
 * The dashboard watching a session learn, in a real browser (Debian's
 * chromium): an agent plays the seed's MSTDP task over REST while the page
 * observes over the WebSocket. The raster, heatmap and reward chart get
 * drawn, the step counter follows the session, and once the agent stops the
 * weights the page shows are the ones REST reads and the rewards it shows
 * are the ones the agent sent. Screenshots go to test-output/ (CI keeps
 * them); DASHBOARD_SCREENSHOT=path also writes the picture of docs/dashboard.md.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Rng } from '../src/engine/random.js';
import { call, createSession } from './helpers/http.js';
import { launchChromium, outputPath, saturatedPixels, startServer, type Browser, type Chromium, type Server } from './helpers/dashboard-browser.js';
import { accuracy, playSeedTask, SEED_MSTDP_NETWORK, type TaskPlayer } from './helpers/seed-mstdp-task.js';

/**
 * The seed task's player over REST (inject: the same routes, no sockets
 * between agent and server); `sent` gets each step's reward, by step.
 */
function restPlayer(server: Server, id: string, sent: Map<number, number>): TaskPlayer {
  let step = 0;
  return {
    async step(pre) {
      const r = await call(server.app, 'POST', `/v1/sessions/${id}/step`, { inputs: { pre }, deferReward: true, return: { populations: ['post'] } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      step = r.body.step;
      return r.body.spikes.post[0].length > 0;
    },
    async reward(value) {
      const r = await call(server.app, 'POST', `/v1/sessions/${id}/reward`, { reward: value });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      sent.set(step, value);
    },
  };
}

async function domStep(browser: Browser): Promise<number> {
  return Number(await browser.page.locator('#step').getAttribute('data-step'));
}

let chromium: Chromium;
before(async () => {
  chromium = await launchChromium();
});
after(() => chromium?.close());

describe('dashboard session view, in chromium', () => {
  let server: Server;
  let browser: Browser;
  before(async () => {
    server = await startServer();
    browser = await chromium.open();
  });
  after(async () => {
    await browser?.close();
    await server?.app.close();
  });

  test('shows the seed MSTDP task learning: raster, heatmap, step counter, the weights REST reads, and the rewards the agent sent', async () => {
    const id = await createSession(server.app, { name: 'seed-mstdp', network: SEED_MSTDP_NETWORK, seed: 1 });
    const page = browser.page;
    await page.goto(`${server.base}/dashboard/${id}`);
    await page.locator('#status[data-kind="live"]').waitFor({ timeout: 10_000 });
    const raster = '.raster[data-population="pre"] canvas';
    const heatmap = '.heatmap[data-connection="pre_post"] canvas';
    // Before any step: weights drawn (read at load), raster empty: the pixel check can fail.
    await page.waitForFunction(() => document.querySelector('.heatmap[data-connection="pre_post"]')?.getAttribute('data-weights') !== null);
    assert.equal(await saturatedPixels(page, raster), 0, 'an idle session has an empty raster');
    // The reward chart's only colour before any reward is its legend's swatch (10 x 3 pixels).
    const rewardChart = '#reward-chart';
    const idleRewardPixels = await saturatedPixels(page, rewardChart);
    assert.ok(idleRewardPixels <= 30, `${idleRewardPixels} coloured pixels on an empty reward chart`);

    // The agent plays while the test samples the page's step counter.
    const sent = new Map<number, number>();
    const play = playSeedTask(restPlayer(server, id, sent), 300, { seed: 1 });
    let done = false;
    void play.finally(() => (done = true)).catch(() => {});
    const seen: number[] = [];
    while (!done) {
      seen.push(await domStep(browser));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const { correct } = await play;
    const steps = 300 * 50;
    const moving = [...new Set(seen.filter((s) => s > 0 && s < steps))];
    assert.ok(moving.length >= 2, `the counter advanced while the agent played (saw ${JSON.stringify(seen.slice(0, 20))}...)`);
    assert.deepEqual(moving, [...moving].sort((a, b) => a - b), 'the counter never went back');

    // The counter reaches the session's step count (the last events may come a frame later).
    await page.waitForFunction((n) => Number(document.querySelector('#step')?.getAttribute('data-step')) === n, steps, { timeout: 10_000 });

    assert.ok((await saturatedPixels(page, raster)) > 50, 'the raster shows spikes');
    assert.ok((await saturatedPixels(page, '.raster[data-population="post"] canvas')) > 0, 'the output population spiked');
    assert.ok((await saturatedPixels(page, heatmap)) > 1000, 'the heatmap is drawn');

    // The rewards: each one the page holds is the one the agent sent for that step, up to the last,
    // and the average shown is theirs. (They came over the observer socket, from the server's
    // rewards stream; the agent sent them over REST, deferred.)
    assert.equal(sent.size, steps);
    await page.waitForFunction((n) => JSON.parse(document.querySelector('#reward-panel')?.getAttribute('data-rewards') ?? '[]').at(-1)?.[0] === n, steps, { timeout: 10_000 });
    const panel = page.locator('#reward-panel');
    const recent = JSON.parse((await panel.getAttribute('data-rewards')) ?? '[]') as [number, number][];
    assert.equal(recent.length, 100, 'the window of the moving average is full');
    for (const [step, value] of recent) assert.equal(value, sent.get(step), `the reward of step ${step}`);
    assert.deepEqual(
      recent.map(([step]) => step),
      [...new Set(recent.map(([step]) => step))].sort((a, b) => a - b),
      'in step order, none twice',
    );
    const mean = recent.reduce((a, [, v]) => a + v, 0) / recent.length;
    assert.ok(Math.abs(Number(await panel.getAttribute('data-average')) - mean) <= 1e-9 * Math.max(1, Math.abs(mean)), 'the average shown is that of the rewards held');
    const thinned = /thinned out/.test((await page.locator('#stream').textContent()) ?? '');
    if (!thinned) {
      // Nothing dropped by the server: every reward arrived, and the window is exactly the last 100 steps.
      assert.equal(Number(await panel.getAttribute('data-count')), steps);
      assert.deepEqual(
        recent.map(([step]) => step),
        Array.from({ length: 100 }, (_, k) => steps - 99 + k),
      );
    }
    assert.ok((await saturatedPixels(page, rewardChart)) > idleRewardPixels + 300, 'the reward chart is drawn');

    // The weights on the page are those of the session, once the stream has caught up.
    const r = await call(server.app, 'GET', `/v1/sessions/${id}/weights`);
    assert.equal(r.status, 200);
    assert.equal(r.body.step, steps);
    const fig = page.locator('.heatmap[data-connection="pre_post"]');
    // The last stream frame was taken before the last reward (deferred): the page must catch up.
    await page.waitForFunction(
      (n) => {
        const fig = document.querySelector('.heatmap[data-connection="pre_post"]');
        return Number(fig?.getAttribute('data-step')) === n && fig?.getAttribute('data-pending') === 'false';
      },
      steps,
      { timeout: 10_000 },
    );
    const shown = JSON.parse((await fig.getAttribute('data-weights')) ?? 'null') as number[][];
    const want = r.body.weights.pre_post as number[][];
    assert.equal(shown.length, want.length);
    shown.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - want[i][j]) <= 1e-5 * Math.max(1, Math.abs(want[i][j])), `w[${i}][${j}]: page ${v}, REST ${want[i][j]}`)));
    assert.equal(Number(await fig.getAttribute('data-min')), Math.min(...want.flat()));
    // The task was learnt while watched (what the page shows is a session that works).
    assert.ok(accuracy(correct, 201, 300) >= 0.9, `accuracy on trials 201-300: ${accuracy(correct, 201, 300)}`);

    await page.screenshot({ path: outputPath('dashboard-seed-mstdp.png'), fullPage: true });
    assert.deepEqual(browser.pageErrors, []);
  });

  test('a reset clears the history: the counter, raster and rewards start again from the reset', async () => {
    const id = await createSession(server.app, { name: 'reset', network: SEED_MSTDP_NETWORK, seed: 2 });
    const page = browser.page;
    await page.goto(`${server.base}/dashboard/${id}`);
    await page.locator('#status[data-kind="live"]').waitFor({ timeout: 10_000 });
    const stepAll = async (n: number, reward: number) => {
      for (let k = 0; k < n; k++) {
        const r = await call(server.app, 'POST', `/v1/sessions/${id}/step`, { inputs: { pre: [100, 0] }, reward });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    };
    const rewardsShown = async () => JSON.parse((await page.locator('#reward-panel').getAttribute('data-rewards')) ?? '[]') as [number, number][];
    await stepAll(30, 1);
    await page.waitForFunction(() => Number(document.querySelector('#reward-panel')?.getAttribute('data-count')) === 30, undefined, { timeout: 10_000 });
    assert.equal((await call(server.app, 'POST', `/v1/sessions/${id}/reset`, {})).status, 200);
    await stepAll(5, -1);
    await page.waitForFunction(() => Number(document.querySelector('#reward-panel')?.getAttribute('data-count')) === 5, undefined, { timeout: 10_000 });
    assert.deepEqual(await rewardsShown(), [[1, -1], [2, -1], [3, -1], [4, -1], [5, -1]], 'only the rewards after the reset');
    assert.equal(await domStep(browser), 5);
    assert.equal(Number(await page.locator('#reward-panel').getAttribute('data-average')), -1);
    assert.equal(await page.locator('#copy').count(), 0, 'a network of one copy has no copy to pick');
    assert.deepEqual(browser.pageErrors, []);
  });

  test('a batch: the copy picked is the one whose spikes and rewards are shown; the weights are the shared ones', async () => {
    const id = await createSession(server.app, { name: 'batch', network: { ...SEED_MSTDP_NETWORK, batch_size: 3 }, seed: 4 });
    const page = browser.page;
    await page.goto(`${server.base}/dashboard/${id}`);
    await page.locator('#status[data-kind="live"]').waitFor({ timeout: 10_000 });
    assert.deepEqual(await page.locator('#copy option').allTextContents(), ['copy 0', 'copy 1', 'copy 2']);
    // Copy 0 gets input on neuron 0, copy 1 none, copy 2 on neuron 1; each copy its own reward.
    let steps = 0;
    const stepAll = async (n: number) => {
      for (let k = 0; k < n; k++, steps++) {
        const r = await call(server.app, 'POST', `/v1/sessions/${id}/step`, { inputs: { pre: [[100, 0], [0, 0], [0, 100]] }, reward: [1, -1, 0.5], return: { spikes: 'none' } });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    };
    const rewardsShown = async () => (JSON.parse((await page.locator('#reward-panel').getAttribute('data-rewards')) ?? '[]') as [number, number][]).map(([, r]) => r);
    const rewardCount = (n: number) => page.waitForFunction((n) => Number(document.querySelector('#reward-panel')?.getAttribute('data-count')) === n, n, { timeout: 10_000 });
    const preRaster = '.raster[data-population="pre"] canvas';

    await stepAll(40);
    await rewardCount(40);
    assert.deepEqual(await rewardsShown(), Array(40).fill(1), 'copy 0 (the default): its rewards');
    assert.ok((await saturatedPixels(page, preRaster)) > 0, 'copy 0: its input neuron fired');

    // Copy 1 had no input: nothing fires, and its rewards are -1. What was shown of copy 0 is gone.
    await page.selectOption('#copy', '1');
    await stepAll(40);
    await rewardCount(40);
    assert.deepEqual(await rewardsShown(), Array(40).fill(-1), 'copy 1: its rewards only');
    await page.waitForFunction((n) => Number(document.querySelector('#step')?.getAttribute('data-step')) === n, steps, { timeout: 10_000 });
    assert.equal(await saturatedPixels(page, preRaster), 0, 'copy 1: no spikes');

    // Copy 2: its neuron 1 fires (stepped until the new subscription shows it), rewards 0.5.
    await page.selectOption('#copy', '2');
    for (let k = 0; k < 50 && (await saturatedPixels(page, preRaster)) === 0; k++) await stepAll(5);
    assert.ok((await saturatedPixels(page, preRaster)) > 0, 'copy 2: its input neuron fired');
    await page.waitForFunction((n) => JSON.parse(document.querySelector('#reward-panel')?.getAttribute('data-rewards') ?? '[]').at(-1)?.[0] === n, steps, { timeout: 10_000 });
    const last = await rewardsShown();
    assert.ok(last.length > 0 && last.every((r) => r === 0.5), `copy 2: its rewards only (${JSON.stringify(last)})`);

    // One set of weights, the session's.
    const rest = (await call(server.app, 'GET', `/v1/sessions/${id}/weights`)).body;
    await page.waitForFunction((n) => Number(document.querySelector('.heatmap[data-connection="pre_post"]')?.getAttribute('data-step')) === n, steps, { timeout: 10_000 });
    const shown = JSON.parse((await page.locator('.heatmap[data-connection="pre_post"]').getAttribute('data-weights')) ?? 'null') as number[][];
    shown.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - rest.weights.pre_post[i][j]) <= 1e-5 * Math.max(1, Math.abs(rest.weights.pre_post[i][j])), `w[${i}][${j}]`)));
    await page.screenshot({ path: outputPath('dashboard-batch.png'), fullPage: true });
    assert.deepEqual(browser.pageErrors, []);
  });

  test('controls: choose populations, pause the view, download weights (CSV, JSON) and a snapshot; a deleted session says so', async () => {
    const network = {
      dt: 1,
      populations: { input: { n: 64 }, hidden: { n: 48, threshold: -55 }, output: { n: 8, threshold: -56 } },
      connections: {
        in_hid: { pre: 'input', post: 'hidden', w_min: 0, w_max: 1, rule: { type: 'STDP', lr: [0.0004, 0.0006] } },
        hid_out: { pre: 'hidden', post: 'output', w_min: 0, w_max: 1, rule: { type: 'MSTDP', lr: [0.002, 0.002] } },
      },
    };
    const id = await createSession(server.app, { name: 'three-layers', network, seed: 3 });
    const page = browser.page;
    await page.goto(`${server.base}/dashboard/${id}`);
    await page.locator('#status[data-kind="live"]').waitFor({ timeout: 10_000 });

    // Input neurons fire in moving bands, so the raster and the learnt weights have structure.
    const rng = new Rng(11);
    let step = 0;
    const run = async (n: number) => {
      for (let k = 0; k < n; k++, step++) {
        const centre = Math.floor(step / 60) % 4;
        const pre = Array.from({ length: 64 }, (_, i) => (Math.floor(i / 16) === centre ? (rng.nextFloat() < 0.5 ? 90 : 0) : rng.nextFloat() < 0.03 ? 90 : 0));
        const r = await call(server.app, 'POST', `/v1/sessions/${id}/step`, { inputs: { input: pre }, reward: centre % 2 === 0 ? 1 : -1, return: { spikes: 'none' } });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    };
    await run(600);
    await page.waitForFunction((n) => Number(document.querySelector('#step')?.getAttribute('data-step')) === n, step, { timeout: 10_000 });

    // Populations: hiding one hides its raster; showing it again brings it back, drawing.
    const inputBox = page.locator('input[data-population="input"]');
    await inputBox.uncheck();
    assert.equal(await page.locator('.raster[data-population="input"]').isHidden(), true);
    assert.equal(await page.locator('.raster[data-population="hidden"]').isVisible(), true);
    await run(100);
    await inputBox.check();
    await run(100);
    await page.waitForFunction((n) => Number(document.querySelector('#step')?.getAttribute('data-step')) === n, step, { timeout: 10_000 });
    assert.ok((await saturatedPixels(page, '.raster[data-population="input"] canvas')) > 0);

    // Pause: the view holds still while the session runs on; resume catches up.
    await page.click('#pause');
    const held = await domStep(browser);
    await run(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await domStep(browser), held, 'a paused view does not move');
    await page.click('#pause');
    await page.waitForFunction((n) => Number(document.querySelector('#step')?.getAttribute('data-step')) === n, step, { timeout: 10_000 });

    // Downloads hold exactly the weights REST reads now.
    const rest = (await call(server.app, 'GET', `/v1/sessions/${id}/weights`)).body;
    const download = async (button: string) => {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
      return { name: dl.suggestedFilename(), text: readFileSync((await dl.path())!, 'utf8') };
    };
    const json = await download('#download-json');
    assert.match(json.name, new RegExp(`^three-layers-step${step}-weights\\.json$`));
    assert.deepEqual(JSON.parse(json.text), rest);
    const csv = await download('#download-csv');
    const lines = csv.text.trim().split('\n');
    assert.equal(lines[0], 'connection,pre,post,weight');
    assert.equal(lines.length, 1 + 64 * 48 + 48 * 8);
    for (const line of [lines[1], lines[64 * 48], lines[64 * 48 + 1], lines[lines.length - 1]]) {
      const [c, i, j, w] = line.split(',');
      assert.equal(Number(w), rest.weights[c][Number(i)][Number(j)], line);
    }
    const snap = await download('#download-snapshot');
    const snapshot = JSON.parse(snap.text);
    assert.equal(snapshot.format, 'spikeserve-snapshot');
    const fork = await call(server.app, 'POST', '/v1/sessions', { snapshot });
    assert.equal(fork.status, 201, 'the downloaded snapshot restores');
    assert.equal(fork.body.step, step);

    await page.selectOption('#scale', 'data');
    await run(300);
    await page.waitForFunction((n) => Number(document.querySelector('#step')?.getAttribute('data-step')) === n, step, { timeout: 10_000 });
    for (const c of ['in_hid', 'hid_out']) assert.ok((await saturatedPixels(page, `.heatmap[data-connection="${c}"] canvas`)) > 1000, c);
    await page.screenshot({ path: outputPath('dashboard-three-layers.png'), fullPage: true });
    if (process.env.DASHBOARD_SCREENSHOT) copyFileSync(outputPath('dashboard-three-layers.png'), process.env.DASHBOARD_SCREENSHOT);

    // Deleting the session ends the stream with the server's reason; the page keeps its last picture.
    assert.deepEqual(browser.pageErrors, []);
    await call(server.app, 'DELETE', `/v1/sessions/${id}`);
    await page.locator('#message:not([hidden])').waitFor({ timeout: 5000 });
    assert.match((await page.locator('#message').textContent()) ?? '', /session is gone/i);
    // A weights read the page had in flight when the session went answers 404, which the browser logs; nothing else may fail.
    assert.deepEqual(browser.pageErrors.filter((e) => !/Failed to load resource: .*404/.test(e)), []);
  });
});

describe('dashboard session view with API keys, in chromium', () => {
  const KEY = { id: 'alice', secret: 'alice-secret-0123456789' };
  let server: Server;
  let browser: Browser;
  before(async () => {
    server = await startServer({ apiKeys: [KEY] });
    browser = await chromium.open();
  });
  after(async () => {
    await browser?.close();
    await server?.app.close();
  });

  test('with the key typed in, the page reads over REST and streams over a WebSocket ticket', async () => {
    const auth = { authorization: `Bearer ${KEY.secret}`, 'content-type': 'application/json' };
    const created = await server.app.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: JSON.stringify({ name: 'keyed', network: SEED_MSTDP_NETWORK }) });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    const page = browser.page;
    await page.goto(`${server.base}/dashboard/${id}`);
    await page.locator('section.panel.error').waitFor({ timeout: 5000 });
    assert.match((await page.locator('section.panel.error').textContent()) ?? '', /UNAUTHORIZED/);

    await page.fill('.key-form input', KEY.secret);
    await page.click('.key-form button[type="submit"]');
    await page.locator('#status[data-kind="live"]').waitFor({ timeout: 10_000 });
    for (let k = 0; k < 20; k++) {
      const r = await server.app.inject({ method: 'POST', url: `/v1/sessions/${id}/step`, headers: auth, payload: JSON.stringify({ steps: 10, inputs: { pre: [100, 0] } }) });
      assert.equal(r.statusCode, 200, r.body);
    }
    await page.waitForFunction(() => Number(document.querySelector('#step')?.getAttribute('data-step')) === 200, undefined, { timeout: 10_000 });
    assert.ok((await saturatedPixels(page, '.raster[data-population="pre"] canvas')) > 0, 'spikes arrived over the stream');
    assert.deepEqual(browser.pageErrors.filter((e) => !/401/.test(e)), [], 'only the refused first load failed');
  });
});
