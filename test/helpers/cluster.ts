/**
 * A real cluster for tests: Debian's redis-server and spikeserve nodes
 * (node dist/src/server.js), each on a 127.0.0.1 port picked here, each node
 * with its own DATA_DIR and NODE_ID so that it can be killed and started
 * again as the same node. stop() ends every process it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forTests } from './for-tests.js';
import { request, startServer, type ServerProcess } from './server.js';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** A port free now on 127.0.0.1 (the OS picks it; the caller binds it next). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisProcess {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** kill -9, then the same port again (without persistence: empty). */
  restart(): Promise<void>;
  /** SIGSTOP: connected but answering nothing, until resume() (SIGCONT). */
  pause(): void;
  resume(): void;
}

export async function startRedis(port?: number): Promise<RedisProcess> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'spikeserve-redis-'));
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('Ready to accept connections')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
    });
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${p}`,
    port: p,
    restart: async () => {
      await kill();
      await launch();
    },
    pause: () => {
      child.kill('SIGSTOP');
    },
    resume: () => {
      child.kill('SIGCONT');
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ClusterNodeProcess {
  id: string;
  dataDir: string;
  port: number;
  server: ServerProcess | null;
  base: string;
}

export interface TestCluster {
  redis: RedisProcess;
  nodes: ClusterNodeProcess[];
  /** Starts node i (again), on its port, DATA_DIR and id. */
  start(i: number, env?: Record<string, string>): Promise<void>;
  kill(i: number, signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until every node named is alive in GET /v1/cluster as node `via` sees it. */
  waitAlive(ids: string[], via?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `apiKey`: a secret of API_KEYS, for the helper's own requests when the nodes need one. */
export async function startCluster(n: number, env: Record<string, string> = {}, options: { apiKey?: string } = {}): Promise<TestCluster> {
  const auth: Record<string, string> = options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` };
  const redis = await startRedis();
  const nodes: ClusterNodeProcess[] = [];
  for (let i = 0; i < n; i++) {
    const port = await freePort();
    nodes.push({ id: `n${i + 1}`, dataDir: mkdtempSync(join(tmpdir(), `spikeserve-node${i + 1}-`)), port, server: null, base: `http://127.0.0.1:${port}` });
  }
  const cluster: TestCluster = {
    redis,
    nodes,
    async start(i, extra = {}) {
      const node = nodes[i];
      node.server = await startServer({
        env: { REDIS_URL: redis.url, NODE_ID: node.id, DATA_DIR: node.dataDir, PORT: String(node.port), CLUSTER_HEARTBEAT_S: '0.2', ...env, ...extra },
      });
    },
    async kill(i, signal = 'SIGKILL') {
      const s = nodes[i].server!;
      nodes[i].server = null;
      s.child.kill(signal);
      return s.exited;
    },
    async waitAlive(ids, via = 0) {
      for (let t = 0; t < 300; t++) {
        const r = await request(nodes[via].base, 'GET', '/v1/cluster', undefined, auth).catch(() => null);
        const alive = new Set<string>((r?.body?.nodes ?? []).filter((x: { alive: boolean }) => x.alive).map((x: { id: string }) => x.id));
        if (ids.every((id) => alive.has(id))) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      const last = await request(nodes[via].base, 'GET', '/v1/cluster', undefined, auth).catch((e) => String(e));
      throw new Error(`nodes ${ids.join(", ")} did not all come up: ${JSON.stringify(last)}`);
    },
    async stop() {
      for (let i = 0; i < n; i++) if (nodes[i].server) await cluster.kill(i);
      await redis.stop();
      for (const node of nodes) rmSync(node.dataDir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < n; i++) await cluster.start(i);
    await cluster.waitAlive(nodes.map((x) => x.id));
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** The secrets of two API keys, alice's and bob's: for what one key may see of the other's sessions. */
export const ALICE = 'alice-secret-0123456789';
export const BOB = 'bob-secret-0123456789abc';

/** The header of a request made with API key `key`. */
export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/**
 * A cluster of `n` nodes taking alice's and bob's keys, started before the
 * tests of the file that calls this and stopped after them; the function
 * returned gives it.
 */
export function keyedClusterForTests(n: number): () => TestCluster {
  return forTests(
    () => startCluster(n, { API_KEYS: `alice:${ALICE},bob:${BOB}` }, { apiKey: ALICE }),
    (cluster) => cluster.stop(),
  );
}
