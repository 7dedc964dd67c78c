/**
 * `npm start`: the service on HOST:PORT. A bad setting stops it at once with
 * a message naming the variable. SIGTERM or SIGINT shuts it down gracefully:
 * no new connections or requests, in-flight requests answered, queued session
 * commands finished; past SHUTDOWN_TIMEOUT_S it exits anyway with code 1, and
 * a second signal exits at once.
 */
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';

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

const app = await buildApp(config);

try {
  await app.listen({ host: config.host, port: config.port });
} catch (err) {
  app.log.fatal({ err }, `cannot listen on ${config.host}:${config.port}`);
  process.exit(1);
}

let shuttingDown = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (shuttingDown) {
    app.log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  shuttingDown = true;
  app.log.info({ signal, timeoutS: config.shutdownTimeoutS }, 'shutting down');
  const force = setTimeout(() => {
    app.log.error({ timeoutS: config.shutdownTimeoutS }, 'shutdown took too long: exiting with work unfinished');
    process.exit(1);
  }, config.shutdownTimeoutS * 1000);
  force.unref();
  try {
    await app.close();
    app.log.info('shut down cleanly');
    process.exit(0);
  } catch (err) {
    app.log.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}

process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));
