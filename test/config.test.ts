/** Configuration from the environment: documented defaults, and a bad value named at start. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, SETTINGS, loadConfig } from '../src/config.js';

test('with nothing set, every setting has its documented default', () => {
  const c = loadConfig({});
  assert.deepEqual(
    { ...c },
    {
      host: '127.0.0.1',
      port: 3000,
      logLevel: 'info',
      bodyLimitBytes: 16 * 1024 * 1024,
      maxSessions: 256,
      maxNeurons: 100_000,
      maxSynapses: 4_000_000,
      maxTotalSynapses: 100_000_000,
      maxStepsPerCall: 100_000,
      maxSpikeRecords: 5_000_000,
      sessionIdleTimeoutS: 3600,
      stepSliceMs: 10,
      shutdownTimeoutS: 10,
      tfjsBackend: 'auto',
    },
  );
  assert.ok(Object.isFrozen(c));
});

test('values are read from their variables; empty means the default', () => {
  const c = loadConfig({ HOST: '0.0.0.0', PORT: '8080', LOG_LEVEL: 'WARN', MAX_SESSIONS: '1_000', SESSION_IDLE_TIMEOUT_S: '0.5', MAX_NEURONS_PER_SESSION: '' });
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.port, 8080);
  assert.equal(c.logLevel, 'warn');
  assert.equal(c.maxSessions, 1000);
  assert.equal(c.sessionIdleTimeoutS, 0.5);
  assert.equal(c.maxNeurons, 100_000);
});

test('a bad value stops loading with a message naming each bad variable and what it must be', () => {
  const bad: Record<string, string> = {
    PORT: '70000',
    LOG_LEVEL: 'loud',
    MAX_SESSIONS: '0',
    MAX_STEPS_PER_CALL: '1e3',
    SESSION_IDLE_TIMEOUT_S: '-1',
    BODY_LIMIT_BYTES: 'lots',
    STEP_SLICE_MS: 'NaN',
    HOST: '   ',
  };
  let err: unknown;
  try {
    loadConfig(bad);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  // HOST of spaces counts as unset, so it takes its default.
  assert.deepEqual(err.problems.map((p) => p.variable).sort(), Object.keys(bad).filter((k) => k !== 'HOST').sort());
  assert.match(err.message, /PORT: must be a whole number from 0 to 65535, got "70000"/);
  assert.match(err.message, /LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"/);
  assert.match(err.message, /SESSION_IDLE_TIMEOUT_S: must be a number from 0 to/);
});

test('every setting has a variable name, a default that parses, and a description', () => {
  const names = new Set<string>();
  for (const s of Object.values(SETTINGS)) {
    assert.match(s.env, /^[A-Z][A-Z0-9_]*$/);
    assert.ok(!names.has(s.env), `${s.env} is used once`);
    names.add(s.env);
    assert.ok(s.doc.length > 10);
    s.parse(s.default);
  }
});
