/**
 * Headless Chromium for the dashboard tests: Debian's chromium driven by
 * playwright-core (no browser download), a fresh context per describe, the
 * service started in this process on a free port of 127.0.0.1.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildApp } from '../../src/app.js';
import { defaultConfig, type Config } from '../../src/config.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where screenshots go; CI keeps this folder as an artifact (it is gitignored). */
export const TEST_OUTPUT = 'test-output';

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions and console errors of the page, for asserting there were none. */
  pageErrors: string[];
  close(): Promise<void>;
}

/**
 * One chromium for a test file: each describe opens its own context in it
 * (fresh storage, as a new profile would have), without a browser start each.
 */
export interface Chromium {
  open(): Promise<Browser>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Chromium> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    async open() {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, acceptDownloads: true });
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
      });
      return { context, page, pageErrors, close: () => context.close() };
    },
    close: () => browser.close(),
  };
}

export interface Server {
  app: FastifyInstance;
  base: string;
}

export async function startServer(overrides: Partial<Config> = {}): Promise<Server> {
  // In memory only: test files run side by side and must not share (or restore) a data directory.
  // No overload bounds (as helpers/http.ts): a loaded test machine must not refuse a test's sessions.
  const app = await buildApp(defaultConfig({ dataDir: '', overloadEventLoopDelayMs: 0, overloadMemoryMb: 0, ...overrides }), { logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no TCP address');
  return { app, base: `http://127.0.0.1:${addr.port}` };
}

export function outputPath(name: string): string {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return join(TEST_OUTPUT, name);
}

/**
 * Pixels of a canvas in a saturated colour, read in the page: spikes and
 * heatmap cells are drawn in saturated colours (population colours, viridis),
 * while the background, frame and labels are greys, so an empty plot counts 0.
 */
export async function saturatedPixels(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (el) => {
    const c = el as HTMLCanvasElement;
    const ctx = c.getContext('2d');
    if (!ctx || c.width === 0 || c.height === 0) return 0;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
    return n;
  });
}
