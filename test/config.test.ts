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
      maxPopulations: 1000,
      maxConnections: 1000,
      maxBatchSize: 64,
      maxJsonDepth: 32,
      maxSynapses: 4_000_000,
      maxTotalSynapses: 100_000_000,
      maxStepsPerCall: 100_000,
      maxBatchItems: 1024,
      maxSpikeRecords: 5_000_000,
      sessionIdleTimeoutS: 3600,
      sessionRetentionS: 0,
      stepSliceMs: 10,
      shutdownTimeoutS: 10,
      apiKeys: [],
      allowUnauthenticatedPublic: false,
      corsOrigins: [],
      allowedHosts: [],
      wsTicketTtlS: 30,
      quotaSessions: 0,
      quotaSynapses: 0,
      quotaStepsPerS: 0,
      quotaStepsBurst: 0,
      overloadEventLoopDelayMs: 500,
      overloadMemoryMb: 'auto',
      overloadHeavyStepCost: 10_000_000,
      dataDir: './data',
      persistSync: 'normal',
      persistCompactSteps: 10_000,
      backendSettings: { TFJS_BACKEND: 'auto' },
      wsMaxPayloadBytes: 16 * 1024 * 1024,
      wsSendBufferBytes: 1024 * 1024,
      wsMaxBufferedBytes: 64 * 1024 * 1024,
      wsMaxInFlight: 4096,
      wsRateLimitPerS: 50000,
      wsRateBurst: 10000,
      wsHeartbeatIntervalS: 30,
      wsMaxObservers: 16,
      redisUrl: '',
      nodeId: '',
      advertiseUrl: '',
      clusterHeartbeatS: 1,
    },
  );
  assert.ok(Object.isFrozen(c));
});

test('values are read from their variables; empty means the default', () => {
  const c = loadConfig({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED_PUBLIC: 'true', PORT: '8080', LOG_LEVEL: 'WARN', MAX_SESSIONS: '1_000', SESSION_IDLE_TIMEOUT_S: '0.5', MAX_NEURONS_PER_SESSION: '' });
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

test('API_KEYS: named and bare keys, each with an id that never shows the secret; weak or repeated keys stop the start', () => {
  const c = loadConfig({ API_KEYS: ' alice:0123456789abcdef0123 , fedcba9876543210fedc ' });
  assert.equal(c.apiKeys.length, 2);
  assert.deepEqual(c.apiKeys[0], { id: 'alice', secret: '0123456789abcdef0123' });
  assert.match(c.apiKeys[1].id, /^key-[0-9a-f]{12}$/);
  assert.ok(!c.apiKeys[1].id.includes('fedcba'));
  const bad = (v: string) => {
    try {
      loadConfig({ API_KEYS: v });
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.problems[0].variable, 'API_KEYS');
      // The message names the key by position or id, never by its secret.
      assert.ok(!e.message.includes('shortsecret'));
      return e.problems[0].message;
    }
    assert.fail(`${v} was accepted`);
  };
  assert.match(bad('bob:shortsecret'), /key 1 \(bob\): a secret needs at least 16 characters/);
  assert.match(bad('a:0123456789abcdef0123,a:0123456789abcdef9999'), /name a is used twice/);
  assert.match(bad('a:0123456789abcdef0123,b:0123456789abcdef0123'), /same secret is listed twice/);
  assert.match(bad('bad name:0123456789abcdef0123'), /a name holds letters/);
});

test('without API_KEYS the server stays on loopback unless ALLOW_UNAUTHENTICATED_PUBLIC says otherwise', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) assert.equal(loadConfig({ HOST: host }).host, host);
  for (const host of ['0.0.0.0', '::', '192.0.2.10', 'example.org']) {
    assert.throws(() => loadConfig({ HOST: host }), (e: ConfigError) => e.problems[0].variable === 'HOST' && /API_KEYS is empty/.test(e.message));
    assert.equal(loadConfig({ HOST: host, ALLOW_UNAUTHENTICATED_PUBLIC: 'true' }).host, host);
    assert.equal(loadConfig({ HOST: host, API_KEYS: 'k:0123456789abcdef0123' }).host, host);
  }
  assert.throws(() => loadConfig({ ALLOW_UNAUTHENTICATED_PUBLIC: 'maybe' }), /ALLOW_UNAUTHENTICATED_PUBLIC: must be true or false/);
});

test('DATA_DIR set but empty means memory only (not the default); CORS_ORIGINS and OVERLOAD_MEMORY_MB are checked', () => {
  assert.equal(loadConfig({ DATA_DIR: '' }).dataDir, '');
  assert.equal(loadConfig({}).dataDir, './data');
  assert.equal(loadConfig({ DATA_DIR: '/var/lib/spikeserve' }).dataDir, '/var/lib/spikeserve');
  assert.deepEqual(loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:8080' }).corsOrigins, ['https://a.example', 'http://localhost:8080']);
  assert.throws(() => loadConfig({ CORS_ORIGINS: 'https://a.example/' }), /CORS_ORIGINS: "https:\/\/a.example\/" is not an origin: write https:\/\/a.example/);
  assert.throws(() => loadConfig({ CORS_ORIGINS: 'a.example' }), /CORS_ORIGINS: "a.example" is not an origin/);
  assert.equal(loadConfig({ OVERLOAD_MEMORY_MB: '2048' }).overloadMemoryMb, 2048);
  assert.throws(() => loadConfig({ OVERLOAD_MEMORY_MB: 'lots' }), /OVERLOAD_MEMORY_MB: must be auto or a whole number/);
  assert.throws(() => loadConfig({ PERSIST_SYNC: 'always' }), /PERSIST_SYNC: must be one of normal, full/);
});

test('ALLOWED_HOSTS: names and addresses, each with an optional port, or *; anything with a scheme, a path or user info is refused', () => {
  assert.deepEqual(loadConfig({ ALLOWED_HOSTS: 'Spikeserve.LAN, 10.0.0.5:3000,[FD00::1]:8080 ,box.' }).allowedHosts, ['spikeserve.lan', '10.0.0.5:3000', '[fd00::1]:8080', 'box.']);
  assert.deepEqual(loadConfig({ ALLOWED_HOSTS: '*' }).allowedHosts, ['*']);
  for (const bad of ['http://a.example', 'a.example/x', 'user@a.example', 'a.example:0', 'a.example:70000', 'a example', '-a.example', 'fd00::1']) {
    assert.throws(() => loadConfig({ ALLOWED_HOSTS: bad }), (e: ConfigError) => e.problems[0].variable === 'ALLOWED_HOSTS' && /is not a host name: write a name or an address/.test(e.message), bad);
  }
});
