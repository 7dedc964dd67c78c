/**
 * The dashboard's pages and files over HTTP, and its sessions list in a real
 * browser (Debian's chromium): every session with its size and step count,
 * kept current by polling, and a clear message for a session that does not
 * exist.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import dashboardRoutes from '../routes/dashboard.js';
import { call, createSession, makeApp } from './helpers/http.js';
import { launchChromium, outputPath, startServer, type Browser, type Chromium, type Server } from './helpers/dashboard-browser.js';
import { SEED_MSTDP_NETWORK } from './helpers/seed-mstdp-task.js';

describe('dashboard files', () => {
  test('/dashboard and /dashboard/{id} serve the page; its script and styles are under /dashboard/assets/', async () => {
    const app = await makeApp();
    try {
      for (const url of ['/dashboard', '/dashboard/', '/dashboard/0b7c6c2e-aaaa-4bbb-8ccc-123456789abc']) {
        const r = await app.inject({ method: 'GET', url });
        assert.equal(r.statusCode, 200, url);
        assert.match(String(r.headers['content-type']), /^text\/html/);
        assert.match(r.body, /<script type="module" src="\/dashboard\/assets\/main\.js">/);
      }
      const js = await app.inject({ method: 'GET', url: '/dashboard/assets/main.js' });
      assert.equal(js.statusCode, 200);
      assert.match(String(js.headers['content-type']), /javascript/);
      assert.ok(js.body.length > 1000);
      const css = await app.inject({ method: 'GET', url: '/dashboard/assets/style.css' });
      assert.equal(css.statusCode, 200);
      assert.match(String(css.headers['content-type']), /^text\/css/);
      const missing = await call(app, 'GET', '/dashboard/assets/nope.js');
      assert.equal(missing.status, 404);
      const docs = await call(app, 'GET', '/docs/json');
      assert.ok(!Object.keys(docs.body.paths).some((p) => p.startsWith('/dashboard')), 'the dashboard is not part of the API description');
    } finally {
      await app.close();
    }
  });

  test('a server compiled without the page says how to build it (503), and still serves the API', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'spikeserve-nodash-'));
    const app = Fastify({ logger: false });
    try {
      await app.register(dashboardRoutes, { dir: empty });
      const r = await app.inject({ method: 'GET', url: '/dashboard/abc' });
      assert.equal(r.statusCode, 503);
      assert.match(r.body, /npm run build/);
    } finally {
      await app.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

let chromium: Chromium;
before(async () => {
  chromium = await launchChromium();
});
after(() => chromium?.close());

describe('dashboard sessions list, in chromium', () => {
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

  test('lists every session with its size and steps, and follows new steps and new sessions', async () => {
    const { app, base } = server;
    const a = await createSession(app, { name: 'seed-mstdp', network: SEED_MSTDP_NETWORK, seed: 1 });
    const page = browser.page;
    await page.goto(`${base}/dashboard`);
    const rowA = page.locator(`tr[data-session="${a}"]`);
    await rowA.waitFor({ timeout: 10_000 });
    const cells = await rowA.locator('td').allTextContents();
    assert.equal(cells[0], 'seed-mstdp');
    assert.equal(cells[2], 'pre 2 · post 1');
    assert.equal(cells[3], '3', 'neurons');
    assert.equal(cells[4], '2', 'synapses');
    assert.equal(cells[5], '0', 'steps');

    const step = await call(app, 'POST', `/v1/sessions/${a}/step`, { steps: 1234, inputs: { pre: [100, 0] } });
    assert.equal(step.status, 200);
    await page.waitForSelector(`tr[data-session="${a}"][data-step="1234"]`, { timeout: 5000 });
    assert.equal(await rowA.locator('td.step').textContent(), '1,234');

    const b = await createSession(app, { network: { populations: { inp: { n: 30 }, out: { n: 20 } }, connections: { c: { pre: 'inp', post: 'out' } } } });
    const rowB = page.locator(`tr[data-session="${b}"]`);
    await rowB.waitFor({ timeout: 5000 });
    const cellsB = await rowB.locator('td').allTextContents();
    assert.equal(cellsB[0], '(unnamed)');
    assert.equal(cellsB[3], '50');
    assert.equal(cellsB[4], '600');
    assert.match((await page.locator('#sessions-summary').textContent()) ?? '', /^2 sessions\./);

    await call(app, 'DELETE', `/v1/sessions/${b}`);
    await rowB.waitFor({ state: 'detached', timeout: 5000 });
    await page.screenshot({ path: outputPath('dashboard-sessions.png'), fullPage: true });

    await rowA.locator('a').first().click();
    await page.waitForURL(`${base}/dashboard/${a}`);
    await page.locator('#step').waitFor({ timeout: 5000 });
    assert.deepEqual(browser.pageErrors, []);
  });

  test('a session that does not exist gets the server\'s message, not a blank page', async () => {
    const page = browser.page;
    await page.goto(`${server.base}/dashboard/no-such-session`);
    const panel = page.locator('section.panel.error');
    await panel.waitFor({ timeout: 5000 });
    assert.match((await panel.textContent()) ?? '', /SESSION_NOT_FOUND/);
  });
});

describe('dashboard with API keys, in chromium', () => {
  const ALICE = { id: 'alice', secret: 'alice-secret-0123456789' };
  const BOB = { id: 'bob', secret: 'bob-secret-0123456789ab' };
  let server: Server;
  let browser: Browser;
  before(async () => {
    server = await startServer({ apiKeys: [ALICE, BOB] });
    browser = await chromium.open();
  });
  after(async () => {
    await browser?.close();
    await server?.app.close();
  });

  const createAs = async (secret: string, name: string) => {
    const r = await server.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ name, network: SEED_MSTDP_NETWORK }),
    });
    assert.equal(r.statusCode, 201, r.body);
    return r.json().id as string;
  };

  test('without a key the page asks for one; with a key it lists that key\'s sessions only', async () => {
    const mine = await createAs(ALICE.secret, 'alice-run');
    const theirs = await createAs(BOB.secret, 'bob-run');
    const page = browser.page;
    await page.goto(`${server.base}/dashboard`);
    await page.locator('#status[data-kind="error"]').waitFor({ timeout: 5000 });
    assert.match((await page.locator('#status').textContent()) ?? '', /^UNAUTHORIZED/);
    await page.locator('.key-form.wanted').waitFor();

    await page.fill('.key-form input', ALICE.secret);
    await page.click('.key-form button[type="submit"]');
    await page.locator(`tr[data-session="${mine}"]`).waitFor({ timeout: 5000 });
    assert.equal(await page.locator(`tr[data-session="${theirs}"]`).count(), 0, 'another key\'s session stays invisible');
    assert.equal(await page.locator('.key-state').textContent(), 'key set');
    assert.equal(await page.locator('.key-form input').inputValue(), '', 'the key is not left in the box');

    // The key survives a reload of the tab (sessionStorage), and is gone once forgotten.
    await page.reload();
    await page.locator(`tr[data-session="${mine}"]`).waitFor({ timeout: 5000 });
    await page.click('.key-form button.secondary');
    await page.locator('#status[data-kind="error"]').waitFor({ timeout: 5000 });
  });
});
