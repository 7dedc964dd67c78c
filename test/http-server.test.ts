/**
 * The service as it runs for real: `node dist/src/server.js` on a port,
 * stopped by a signal, refusing a bad configuration; and the app's graceful
 * close with a request in flight.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { makeApp } from './helpers/http.js';

const SERVER = 'dist/src/server.js';

function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, [SERVER], { env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out} ${err}`)), 15_000);
    child.stdout.on('data', () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited: ${out} ${err}`));
    });
  });
  // A test that expects the server to refuse to start never awaits this.
  listening.catch(() => {});
  return { child, listening, exited, output: () => out, errors: () => err };
}

test('npm start\'s server: listens on HOST:PORT, serves the API, exits 0 on SIGTERM', async () => {
  const s = startServer({ LOG_LEVEL: 'info' });
  try {
    const base = await s.listening;
    const created = await fetch(`${base}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ network: { populations: { a: { n: 2 } } } }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    const stepped = await fetch(`${base}/v1/sessions/${id}/step`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"steps": 3}' });
    assert.equal(((await stepped.json()) as { step: number }).step, 3);
    assert.equal((await fetch(`${base}/openapi.yaml`)).status, 200);
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
    const log = s.output();
    assert.match(log, /"msg":"shutting down"/);
    assert.match(log, /"msg":"shut down cleanly"/);
    assert.match(log, new RegExp(`"sessionId":"${id}".*"msg":"request"`));
  } finally {
    s.child.kill('SIGKILL');
  }
});

test('a bad setting stops the server at start with a message naming the variable', async () => {
  const s = startServer({ PORT: 'eighty', MAX_SESSIONS: '0' });
  const code = await s.exited;
  assert.equal(code, 1);
  assert.match(s.errors(), /PORT: must be a whole number from 0 to 65535, got "eighty"/);
  assert.match(s.errors(), /MAX_SESSIONS: must be a whole number from 1 to/);
});

/** Two requests on one keep-alive connection, the second sent once close() has begun; collects everything until the server closes it. */
function exchangeAcrossClose(port: number, first: string, second: string, startClose: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => {
      sock.write(first, () => {
        setTimeout(() => {
          startClose();
          setTimeout(() => sock.write(second), 20);
        }, 30);
      });
    });
    let data = '';
    sock.on('data', (d) => (data += d));
    sock.on('close', () => resolve(data));
    sock.on('error', reject);
    sock.setTimeout(20_000, () => {
      sock.destroy();
      reject(new Error(`timeout; got ${data}`));
    });
  });
}

test('graceful close: a step in flight completes, a request arriving meanwhile gets 503 SHUTTING_DOWN, then the connection and sessions are released', async () => {
  const app = await makeApp({ maxStepsPerCall: 10_000_000, stepSliceMs: 2 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const created = await fetch(`http://127.0.0.1:${port}/v1/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ network: { populations: { a: { n: 2 } } } }),
  });
  const { id } = (await created.json()) as { id: string };
  const body = JSON.stringify({ steps: 2_000_000, return: { spikes: 'none' } });
  const first = `POST /v1/sessions/${id}/step HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const second = 'GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n';
  let closing: Promise<void> | null = null;
  const t0 = Date.now();
  const data = await exchangeAcrossClose(port, first, second, () => (closing = app.close()));
  await closing;
  const statuses = [...data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 503], data);
  assert.match(data, /"step":2000000/);
  assert.match(data, /"code":"SHUTTING_DOWN"/);
  assert.equal(app.sessions.size, 0);
  // Closed soon after the last response, not at the keep-alive timeout.
  assert.ok(Date.now() - t0 < 15_000);
});
