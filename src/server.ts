/**
 * `npm start`: the service on HOST:PORT. A bad setting stops it at once with
 * a message naming the variable, as does a DATA_DIR it cannot use. Sessions
 * saved in DATA_DIR are restored before it listens. SIGTERM or SIGINT shuts
 * it down gracefully: no new connections or requests, in-flight requests
 * answered, queued session commands finished, final snapshots written and the
 * database closed; past SHUTDOWN_TIMEOUT_S it exits anyway with code 1 (every
 * acknowledged change is already on disk), and a second signal exits at once.
 */
import pino from 'pino';
import { buildApp } from './app.js';
import { backendReports, startBackends } from './engine/index.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { loggerOptions } from './http/logging.js';
import { StoreError } from './persist/schema.js';

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  if (e instanceof ConfigError) {
    process.stderr.write(`spikeserve: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}

// Asynchronous stdout: a synchronous write per request line costs a system
// call on the hot path; lines written while one is in flight are batched.
// Every exit below flushes it first.
const logStream = pino.destination({ dest: 1, sync: false });

// The engine's backends start here, before the sessions saved in DATA_DIR
// are restored (those on a backend that starts asynchronously, as tfjs, need
// it). A backend that does not start refuses new sessions and keeps saved
// ones on disk, both with BACKEND_UNAVAILABLE; the others run as usual.
const started = await startBackends(config.backendSettings);

let app: Awaited<ReturnType<typeof buildApp>>;
try {
  app = await buildApp(config, { logger: loggerOptions(config.logLevel, logStream) });
} catch (e) {
  // DATA_DIR in use by another server, unwritable, or from a newer version: the operator must act.
  if (e instanceof StoreError) {
    logStream.flushSync();
    process.stderr.write(`spikeserve: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}

for (const b of started) {
  const report = backendReports();
  const fields = b.name in report ? { [b.name]: report[b.name] } : {};
  if (!b.ok) app.log.warn(fields, `${b.name} backend unavailable: new sessions with "backend": "${b.name}" are refused, and saved ones stay on disk until it runs`);
  else if (b.message !== null) app.log.info(fields, b.message);
}

function exit(code: number): never {
  try {
    logStream.flushSync();
  } catch {
    // stdout already gone: nothing more to save
  }
  process.exit(code);
}

try {
  await app.listen({ host: config.host, port: config.port });
} catch (err) {
  app.log.fatal({ err }, `cannot listen on ${config.host}:${config.port}`);
  exit(1);
}

let shuttingDown = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (shuttingDown) {
    app.log.warn({ signal }, 'second signal: exiting now');
    exit(1);
  }
  shuttingDown = true;
  app.log.info({ signal, timeoutS: config.shutdownTimeoutS }, 'shutting down');
  // In a cluster, the sessions move to the other nodes first, while this one still serves (docs/cluster.md).
  if (app.cluster) {
    const drained = await app.cluster.drain(performance.now() + config.shutdownTimeoutS * 1000);
    app.log.info(drained, 'drained: sessions moved to the other nodes');
  }
  const force = setTimeout(() => {
    app.log.error({ timeoutS: config.shutdownTimeoutS }, 'shutdown took too long: exiting with work unfinished');
    exit(1);
  }, config.shutdownTimeoutS * 1000);
  force.unref();
  try {
    await app.close();
    app.log.info('shut down cleanly');
    exit(0);
  } catch (err) {
    app.log.error({ err }, 'shutdown failed');
    exit(1);
  }
}

process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));
