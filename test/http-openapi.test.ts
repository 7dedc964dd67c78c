/**
 * The published contract: openapi.yaml is what the routes generate (a stale
 * file fails here: run `npm run openapi`), it is valid OpenAPI 3.1, it lists
 * every endpoint of the issue with the one error shape, and the server
 * serves it and the interactive docs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { parse } from 'yaml';
import { ERROR_CATALOGUE } from '../src/errors.js';
import { OPENAPI_HEADER, renderOpenApi } from '../src/openapi.js';
import { call, createSession, makeApp } from './helpers/http.js';
import { forTests } from './helpers/for-tests.js';

const committed = readFileSync('openapi.yaml', 'utf8');

const ENDPOINTS = [
  'post /v1/batch/step',
  'post /v1/sessions',
  'get /v1/sessions',
  'get /v1/sessions/{id}',
  'delete /v1/sessions/{id}',
  'post /v1/sessions/{id}/step',
  'post /v1/sessions/{id}/reward',
  'post /v1/sessions/{id}/reset',
  'get /v1/sessions/{id}/weights',
  'get /v1/sessions/{id}/weights/{connection}',
  'put /v1/sessions/{id}/weights/{connection}',
  'get /v1/sessions/{id}/state',
  'get /v1/sessions/{id}/snapshot',
  'get /healthz',
  'get /readyz',
  'get /openapi.yaml',
  'get /asyncapi.yaml',
  'get /metrics',
  'post /v1/sessions/{id}/ws-ticket',
  'get /v1/cluster',
];

type Operation = { responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>; requestBody?: unknown };

describe('openapi.yaml', () => {
  const app = forTests(() => makeApp());

  test('the committed file is what the routes generate (else run `npm run openapi`)', async () => {
    const generated = await renderOpenApi();
    assert.ok(committed === generated, 'openapi.yaml is out of date with the route schemas: run `npm run openapi` and commit the result');
  });

  test('it is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const res = await validator.validate(parse(committed));
    assert.equal(res.valid, true, JSON.stringify(res.errors, null, 1));
    assert.equal(validator.version, '3.1');
  });

  test('it describes every endpoint, and every error response is the one ErrorResponse shape', () => {
    const doc = parse(committed) as { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { properties: { error: { properties: { code: { enum: string[] } } } } }> } };
    const found = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    assert.deepEqual([...found].sort(), [...ENDPOINTS].sort());
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, res] of Object.entries(op.responses)) {
          if (Number(status) >= 400) assert.equal(res.content?.['application/json']?.schema?.$ref, '#/components/schemas/ErrorResponse', `${method} ${path} ${status}`);
        }
        assert.ok(op.responses['500'], `${method} ${path} documents 500`);
      }
    }
    const codes = doc.components.schemas.ErrorResponse.properties.error.properties.code.enum;
    assert.deepEqual(codes, Object.keys(ERROR_CATALOGUE));
  });

  test('every endpoint checks its request against its schemas: an unknown field or parameter answers 4xx in the one error shape, never 5xx', async () => {
    // Validators are compiled when a route first validates: a schema that cannot compile would answer 500 here.
    const id = await createSession(app(), { network: { populations: { a: { n: 2 }, b: { n: 1 } }, connections: { ab: { pre: 'a', post: 'b' } } } });
    const last = (e: string) => (e.startsWith('delete ') ? 1 : 0);
    for (const endpoint of [...ENDPOINTS].sort((a, b) => last(a) - last(b))) {
      const [method, path] = endpoint.split(' ');
      const url = `${path.replace('{id}', id).replace('{connection}', 'ab')}?unexpected=1`;
      const body = method === 'post' || method === 'put' ? { unexpected: true } : undefined;
      const r = await call(app(), method.toUpperCase() as 'GET', url, body);
      assert.ok(r.status < 500, `${endpoint}: ${r.status} ${JSON.stringify(r.body)}`);
      if (r.status >= 400) assert.equal(typeof r.body?.error?.code, 'string', `${endpoint}: ${JSON.stringify(r.body)}`);
    }
  });

  test('GET /openapi.yaml serves the same contract; /docs serves the interactive docs', async () => {
    const r = await app().inject({ method: 'GET', url: '/openapi.yaml' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^application\/yaml/);
    assert.equal(OPENAPI_HEADER + r.body, committed);
    const docs = await app().inject({ method: 'GET', url: '/docs' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger-ui/i);
    const json = await app().inject({ method: 'GET', url: '/docs/json' });
    assert.equal(json.json().openapi, '3.1.0');
  });
});
