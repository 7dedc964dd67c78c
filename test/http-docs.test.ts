/**
 * The HTTP docs stay true: the curl walkthrough of docs/http-api.md runs as
 * written against a live server and touches every endpoint, the README's
 * quick starts (curl and Python) run as written, and the configuration and
 * error tables list every setting and code with its default and status.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { SETTINGS } from '../src/config.js';
import { ERROR_CATALOGUE } from '../src/errors.js';
import { makeApp } from './helpers/http.js';
import { doc, section } from './helpers/docs.js';

/** Runs a sh block of the docs against `app`, listening on a port of its own, with BASE pointed at it; its stdout. */
async function runShell(app: FastifyInstance, script: string): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  // Every curl fails the script on an HTTP error, which the docs' plain `curl -s` would only print.
  const prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n';
  const body = script.replace('BASE=http://127.0.0.1:3000', `BASE=http://127.0.0.1:${port}`);
  const cwd = mkdtempSync(join(tmpdir(), 'spikeserve-docs-'));
  const { stdout } = await promisify(execFile)('bash', ['-c', prelude + body], { cwd, timeout: 60_000 });
  return stdout;
}

/** The first fenced block of `lang` in `text`. */
function block(text: string, lang: string): string {
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(text);
  assert.ok(m, `a ${lang} block`);
  return m[1];
}

test('docs/configuration.md: every setting with its variable and default', () => {
  const table = doc('docs/configuration.md');
  for (const s of Object.values(SETTINGS)) {
    assert.ok(table.includes(`| \`${s.env}\` | \`${s.default}\` |`), `docs/configuration.md lists ${s.env} with default ${s.default}`);
  }
});

test('docs/http-api.md error table: every code with its status', () => {
  const table = section(doc('docs/http-api.md'), 'Errors');
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
    assert.ok(table.includes(`| \`${code}\` | ${status} |`), `docs/http-api.md lists ${code} with status ${status}`);
  }
});

test('docs/http-api.md curl walkthrough runs as written and covers every endpoint', async () => {
  const api = section(doc('docs/http-api.md'), 'Walkthrough');
  const script = block(api, 'sh');
  const openapi = parse(readFileSync('openapi.yaml', 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  for (const [path, ops] of Object.entries(openapi.paths)) {
    const pattern = path.replace('{id}', '$ID').replace('{connection}', 'pre_post');
    for (const method of Object.keys(ops)) {
      const used = method === 'get' ? script.includes(`$BASE${pattern}`) || script.includes(`"$BASE${pattern}`) : script.includes(`-X ${method.toUpperCase()} $BASE${pattern}`);
      assert.ok(used, `the walkthrough uses ${method.toUpperCase()} ${path}`);
    }
  }
  assert.match(script, /^BASE=http:\/\/127\.0\.0\.1:3000$/m);

  const app = await makeApp();
  try {
    const stdout = await runShell(app, script);
    assert.match(stdout, /^session [0-9a-f-]{36}$/m);
    assert.match(stdout, /"spikeCounts":/);
    assert.match(stdout, /"deleted":true/);
    assert.match(stdout, /openapi: 3\.1\.0/);
    // The fork made by the walkthrough is still there after the original was deleted.
    assert.equal(app.sessions.size, 1);
  } finally {
    await app.close();
  }
});

test('docs/model.md examples run as written: an episode rewarded only at its end under MSTDPET, one network driven by 8 environments', async () => {
  const model = doc('docs/model.md');
  /** The replies a block prints, one after the other without a newline between them. */
  const run = async (title: string) => {
    const app = await makeApp();
    try {
      const stdout = await runShell(app, `BASE=http://127.0.0.1:3000\n${block(section(model, title, title === 'MSTDPET' ? 3 : 2), 'sh')}`);
      return stdout.trim().split(/(?<=\})(?=\{)/).map((l) => JSON.parse(l));
    } finally {
      await app.close();
    }
  };
  const [episode, rewarded] = await run('MSTDPET');
  assert.equal(episode.step, 50);
  assert.ok(episode.spikeCounts.post[0] > 0, 'the output fired during the episode');
  assert.equal(rewarded.step, 51);
  assert.ok(rewarded.weights.pre_post[0][0] > 5, 'the one reward at the end potentiated the input that made the output fire');
  assert.equal(rewarded.weights.pre_post[1][0], 5, 'and left the silent input alone');

  const [step, reward] = await run('Batches');
  assert.deepEqual(step.copies, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(step.spikes.act.length, 1, 'one step');
  assert.equal(step.spikes.act[0].length, 8, 'its spikes per copy: each environment\'s action');
  assert.equal(step.pending, true);
  assert.deepEqual(reward, { step: 1, pending: false });
});

test('README quick start with curl runs as written', async () => {
  const script = block(section(doc('README.md'), 'Quick start with curl'), 'sh');
  assert.match(script, /^BASE=http:\/\/127\.0\.0\.1:3000$/m);
  const app = await makeApp();
  try {
    const stdout = await runShell(app, script);
    // The replies, printed one after the other without a newline between them.
    const [step, deleted] = stdout.trim().split(/(?<=\})(?=\{)/).map((l) => JSON.parse(l));
    assert.equal(step.step, 100);
    assert.equal(step.spikeCounts.pre.length, 2);
    assert.ok(step.spikeCounts.pre[0] > 0, 'the driven input neuron fired');
    assert.equal(step.weights.pre_post.length, 2);
    assert.equal(deleted.deleted, true);
    assert.equal(app.sessions.size, 0);
  } finally {
    await app.close();
  }
});

test('README quick start with Python runs as written', async (t) => {
  const python = spawnSync('python3', ['--version']);
  if (python.error || python.status !== 0) {
    t.skip('python3 is not installed');
    return;
  }
  // The package from $PYTHON's installation (.ci/run's venv), or from the source tree.
  const env = { ...process.env, PYTHONPATH: ['clients/python/src', process.env.PYTHONPATH].filter(Boolean).join(':') };
  const interpreter = [process.env.PYTHON, 'python3', '/usr/bin/python3'].find((py) => py && spawnSync(py, ['-c', 'import spikeserve'], { env }).status === 0);
  assert.ok(interpreter, 'no python3 that can import spikeserve: pip install ./clients/python (needs websockets and numpy)');
  const code = block(section(doc('README.md'), 'Quick start with Python'), 'python');
  assert.ok(code.includes('"http://127.0.0.1:3000"'));
  const app = await makeApp();
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const { stdout } = await promisify(execFile)(interpreter, ['-c', code.replace('"http://127.0.0.1:3000"', `"http://127.0.0.1:${port}"`)], { timeout: 60_000, env });
    const weights = JSON.parse(stdout) as number[][];
    assert.equal(weights.length, 2);
    assert.equal(weights[0].length, 1);
    assert.equal(app.sessions.size, 0, 'the script deleted its session');
  } finally {
    await app.close();
  }
});
