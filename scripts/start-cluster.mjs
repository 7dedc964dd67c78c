#!/usr/bin/env node
/**
 * `npm run start:cluster`: a cluster on this machine (docs/cluster.md), one
 * node per core and the Redis it needs, for a workstation.
 *
 * - Redis: redis-server (REDIS_SERVER, default the one on PATH) on 127.0.0.1
 *   and REDIS_PORT (6379), its append-only file in CLUSTER_DIR/redis; or, if
 *   REDIS_URL is set, that Redis, and none is started.
 * - Nodes: CLUSTER_NODES of them (default: one per core), node-1, node-2, ...,
 *   on 127.0.0.1 and BASE_PORT (3001), BASE_PORT + 1, ..., each with its
 *   DATA_DIR in CLUSTER_DIR/node-<i> (CLUSTER_DIR: ./data-cluster). Every
 *   other setting (API_KEYS, limits) is passed on to every node.
 *
 * Any node answers for any session. Ctrl-C (or SIGTERM) stops the nodes,
 * which keep their sessions on disk for the next start, then Redis.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const env = process.env;
const dir = resolve(env.CLUSTER_DIR ?? './data-cluster');
const count = Number(env.CLUSTER_NODES ?? availableParallelism());
const basePort = Number(env.BASE_PORT ?? 3001);
const redisPort = Number(env.REDIS_PORT ?? 6379);
if (!Number.isInteger(count) || count < 1) fail(`CLUSTER_NODES must be a whole number of at least 1, got ${env.CLUSTER_NODES}`);
if (!Number.isInteger(basePort) || basePort < 1 || basePort + count > 65535) fail(`BASE_PORT must be a port number, got ${env.BASE_PORT}`);

function fail(message) {
  process.stderr.write(`start-cluster: ${message}\n`);
  process.exit(1);
}

const children = [];
let stopping = false;

function stop(code) {
  if (stopping) return;
  stopping = true;
  // The nodes first (every node at once: none drains onto another that is stopping too), Redis once they are gone.
  const nodes = children.filter((c) => c.role === 'node' && c.proc.exitCode === null);
  for (const c of nodes) c.proc.kill('SIGTERM');
  Promise.all(nodes.map((c) => (c.proc.exitCode === null ? new Promise((r) => c.proc.once('exit', r)) : null))).then(() => {
    for (const c of children) if (c.role === 'redis' && c.proc.exitCode === null) c.proc.kill('SIGTERM');
    process.exitCode = code;
  });
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

let redisUrl = env.REDIS_URL ?? '';
if (redisUrl === '') {
  const redisDir = join(dir, 'redis');
  mkdirSync(redisDir, { recursive: true });
  const proc = spawn(env.REDIS_SERVER ?? 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--dir', redisDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  proc.once('error', (e) => fail(`cannot start redis-server (${e.message}); install it, set REDIS_SERVER to its path, or REDIS_URL to a running Redis`));
  proc.once('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`start-cluster: redis-server exited (${code}); stopping the nodes\n`);
      stop(1);
    }
  });
  children.push({ role: 'redis', proc });
  redisUrl = `redis://127.0.0.1:${redisPort}`;
}

const urls = [];
for (let i = 1; i <= count; i++) {
  const port = basePort + i - 1;
  const dataDir = join(dir, `node-${i}`);
  mkdirSync(dataDir, { recursive: true });
  const proc = spawn(process.execPath, [join(root, 'dist/src/server.js')], {
    env: { ...env, REDIS_URL: redisUrl, NODE_ID: `node-${i}`, HOST: env.HOST ?? '127.0.0.1', PORT: String(port), DATA_DIR: dataDir },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  proc.once('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`start-cluster: node-${i} exited (${code ?? signal}); stopping the cluster\n`);
      stop(1);
    }
  });
  children.push({ role: 'node', proc });
  urls.push(`http://127.0.0.1:${port}`);
}
process.stderr.write(`start-cluster: ${count} nodes on ${urls.join(', ')}, Redis at ${redisUrl}; any node answers for any session (GET /v1/cluster)\n`);
