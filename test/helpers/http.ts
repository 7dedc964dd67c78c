/**
 * Helpers for the HTTP tests: an app on the default configuration (plus
 * overrides) without logging, and a JSON call through inject().
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp, type AppOptions } from '../../src/app.js';
import { defaultConfig, type Config } from '../../src/config.js';

/**
 * An app on the defaults, but in memory only (no DATA_DIR: tests run side by
 * side and must not share a database) and without overload bounds (a loaded
 * test machine must not refuse a test's sessions), unless the test says so.
 */
export async function makeApp(overrides: Partial<Config> = {}, options: AppOptions = {}): Promise<FastifyInstance> {
  return buildApp(defaultConfig({ dataDir: '', overloadEventLoopDelayMs: 0, overloadMemoryMb: 0, ...overrides }), { logger: false, ...options });
}

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Record<string, unknown>;
}

/** One JSON request; `body` undefined sends none. */
export async function call<T = any>(app: FastifyInstance, method: InjectOptions['method'], url: string, body?: unknown): Promise<Reply<T>> {
  const opts: InjectOptions = { method, url };
  if (body !== undefined) {
    opts.payload = JSON.stringify(body);
    opts.headers = { 'content-type': 'application/json' };
  }
  const r = await app.inject(opts);
  const type = String(r.headers['content-type'] ?? '');
  return { status: r.statusCode, body: (type.includes('json') ? r.json() : r.body) as T, headers: r.headers };
}

/** Creates a session and returns its id, failing loudly if the server refuses. */
export async function createSession(app: FastifyInstance, body: unknown): Promise<string> {
  const r = await call(app, 'POST', '/v1/sessions', body);
  if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}

/** The seed's STDP example network (docs/model.md, test/golden/seed-stdp*.json). */
export function seedStdpNetwork(lr: [number, number]) {
  return {
    dt: 0.1,
    populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
    connections: {
      pre_post: { pre: 'pre', post: 'post', w: [[0.4434], [0.8602]], rule: { type: 'STDP', lr, weight_decay: 0.0001 } },
    },
  };
}

/** Same shape, every entry within `tol`. */
export function assertClose(got: number[][] | number[], want: number[][] | number[], tol: number, what = 'value'): void {
  const g = (got as unknown[]).flat() as number[];
  const w = (want as unknown[]).flat() as number[];
  if (g.length !== w.length || got.length !== want.length) throw new Error(`${what}: shape differs: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
  g.forEach((x, k) => {
    if (!(Math.abs(x - w[k]) <= tol)) throw new Error(`${what}: entry ${k} is ${x}, expected ${w[k]} within ${tol}`);
  });
}
