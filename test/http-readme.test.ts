/**
 * The README's service sections stay true: the curl walkthrough runs as
 * written against a live server and touches every endpoint, and the
 * configuration and error tables list every setting and code with its
 * default and status.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { SETTINGS } from '../src/config.js';
import { ERROR_CATALOGUE } from '../src/errors.js';
import { makeApp } from './helpers/http.js';
import { section } from './helpers/readme.js';


test('README configuration table: every setting with its variable and default', () => {
  const table = section('Configuration');
  for (const s of Object.values(SETTINGS)) {
    assert.ok(table.includes(`| \`${s.env}\` | \`${s.default}\` |`), `README lists ${s.env} with default ${s.default}`);
  }
});

test('README error table: every code with its status', () => {
  const table = section('Errors');
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
    assert.ok(table.includes(`| \`${code}\` | ${status} |`), `README lists ${code} with status ${status}`);
  }
});

test('README curl walkthrough runs as written and covers every endpoint', async () => {
  const api = section('HTTP API');
  const m = /```sh\n([\s\S]*?)```/.exec(api);
  assert.ok(m, 'the HTTP API section has a sh block');
  const script = m[1];
  const doc = parse(readFileSync('openapi.yaml', 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  for (const [path, ops] of Object.entries(doc.paths)) {
    const pattern = path.replace('{id}', '$ID').replace('{connection}', 'pre_post');
    for (const method of Object.keys(ops)) {
      const used = method === 'get' ? script.includes(`$BASE${pattern}`) || script.includes(`"$BASE${pattern}`) : script.includes(`-X ${method.toUpperCase()} $BASE${pattern}`);
      assert.ok(used, `the walkthrough uses ${method.toUpperCase()} ${path}`);
    }
  }
  assert.match(script, /^BASE=http:\/\/127\.0\.0\.1:3000$/m);

  const app = await makeApp();
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    // Every curl fails the script on an HTTP error, which the README's plain `curl -s` would only print.
    const prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n';
    const body = script.replace('BASE=http://127.0.0.1:3000', `BASE=http://127.0.0.1:${port}`);
    const cwd = mkdtempSync(join(tmpdir(), 'spikeserve-readme-'));
    const { stdout } = await promisify(execFile)('bash', ['-c', prelude + body], { cwd, timeout: 60_000 });
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
