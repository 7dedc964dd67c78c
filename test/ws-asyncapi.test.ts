/**
 * The WebSocket protocol's published description: asyncapi.yaml is what the
 * message schemas generate (a stale file fails here: run `npm run asyncapi`),
 * a real AsyncAPI parser accepts it, it describes every message both ways,
 * binary frames, the close codes, the auth and the upgrade's query, the
 * multiplexed socket's channel with its own messages, and the server serves
 * it and links it from /docs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { Parser, type AsyncAPIDocumentInterface } from '@asyncapi/parser';
import { parse } from 'yaml';
import { ASYNCAPI_HEADER, renderAsyncApi } from '../src/asyncapi.js';
import { CLIENT_MESSAGE_SCHEMAS, CLIENT_MESSAGE_TYPES, WS_FORMATS, WS_ROLES } from '../src/api/ws.js';
import { BinaryStepBatchErrorsSchema, BinaryStepBatchHeaderSchema, MUX_MESSAGE_SCHEMAS, MUX_MESSAGE_TYPES, MuxHelloMessageSchema } from '../src/api/ws-multiplex.js';
import { UPGRADE_QUERY_PARAMS } from '../src/security/upgrade.js';
import { FRAME_KINDS, SECTION_TYPES } from '../src/ws/binary-format.js';
import { CLOSE_CODE_TABLE } from '../src/ws/close-codes.js';
import { makeApp } from './helpers/http.js';
import { forTests } from './helpers/for-tests.js';

const committed = readFileSync('asyncapi.yaml', 'utf8');
type RawChannel = { messages: Record<string, { payload: unknown }>; bindings: { ws: { query: { properties: Record<string, unknown>; additionalProperties: boolean } } } };
const raw = parse(committed) as { channels: { session: RawChannel; multiplexed: RawChannel }; components: { schemas: Record<string, unknown> } };

describe('asyncapi.yaml', () => {
  let doc: AsyncAPIDocumentInterface;
  before(async () => {
    const { document, diagnostics } = await new Parser().parse(committed);
    // Spectral severities: 0 error, 1 warning, 2 information, 3 hint.
    const problems = diagnostics.filter((d) => d.severity <= 1);
    assert.deepEqual(problems.map((d) => `${d.code} ${d.path.join('.')}: ${d.message}`), [], 'the AsyncAPI parser finds no error or warning');
    assert.ok(document);
    doc = document;
  });

  test('the committed file is what the message schemas generate (else run `npm run asyncapi`)', () => {
    assert.ok(committed === renderAsyncApi(), 'asyncapi.yaml is out of date with the WebSocket schemas: run `npm run asyncapi` and commit the result');
  });

  test('it is AsyncAPI 3 with two channels: the session socket, the session id a parameter, and the multiplexed socket', () => {
    assert.match(doc.version(), /^3\./);
    const channels = doc.channels().all();
    assert.deepEqual(channels.map((c) => c.address()), ['/v1/sessions/{id}/ws', '/v1/ws']);
    assert.deepEqual(channels[0].parameters().all().map((p) => p.id()), ['id']);
    assert.deepEqual(channels[1].parameters().all().map((p) => p.id()), []);
  });

  /** The operations the server receives on the channel at `address`. */
  const receivedOn = (address: string) => doc.operations().filterByReceive().filter((op) => op.channels().all().some((c) => c.address() === address));

  test('the server receives every client command, as the schema that checks it, and replies with reply or error', () => {
    const received = receivedOn('/v1/sessions/{id}/ws');
    const byMessage = new Map(received.flatMap((op) => op.messages().all().map((m) => [m.name(), op] as const)));
    assert.deepEqual([...byMessage.keys()].sort(), [...CLIENT_MESSAGE_TYPES].sort());
    for (const t of CLIENT_MESSAGE_TYPES) {
      const op = byMessage.get(t)!;
      const msg = op.messages().all()[0];
      assert.equal(msg.contentType(), 'application/json');
      // The file as written (the parser adds ids of its own to the schemas it reads).
      assert.deepEqual(raw.channels.session.messages[msg.id()].payload, JSON.parse(JSON.stringify(CLIENT_MESSAGE_SCHEMAS[t])), `${t}: the payload is the schema the server checks it with`);
      const replies = op.reply()!.messages().all().map((m) => m.name());
      assert.ok(replies.includes('reply') && replies.includes('error'), `${t} replies with reply or error`);
    }
  });

  test('the server sends hello, errors, stream events and binary frames, whose byte layout the binary message describes', () => {
    const sent = doc.operations().filterBySend().flatMap((op) => op.messages().all().map((m) => m.name()));
    for (const name of ['hello', 'error', 'spikes', 'potentials', 'weights', 'reward', 'dropped', 'binary']) assert.ok(sent.includes(name), `sends ${name}`);
    const binary = doc.allMessages().all().find((m) => m.name() === 'binary')!;
    assert.equal(binary.contentType(), 'application/octet-stream');
    const layout = binary.description()!;
    for (const [kind, code] of Object.entries(FRAME_KINDS)) assert.ok(layout.includes(`${code} ${kind}`), `frame kind ${kind}`);
    for (const [type, code] of Object.entries(SECTION_TYPES)) assert.ok(layout.includes(`${code} ${type}`), `section type ${type}`);
    // The step, weights and set_weights replies may be binary frames.
    const binaryReplies = receivedOn('/v1/sessions/{id}/ws').filter((op) => op.reply()!.messages().all().some((m) => m.name() === 'binary'));
    assert.deepEqual(binaryReplies.map((op) => op.messages().all()[0].name()).sort(), ['set_weights', 'step', 'weights']);
  });

  test('the close codes, the upgrade\'s query parameters and both ways to authenticate are described', () => {
    const channel = doc.channels().all().find((c) => c.address() === '/v1/sessions/{id}/ws')!;
    for (const c of CLOSE_CODE_TABLE) assert.match(channel.description()!, new RegExp(`\\| ${c.code} \\|`), `close code ${c.code}`);
    const ws = channel.bindings().get('ws')!.value() as { method: string; query: { properties: Record<string, { anyOf?: { const: string }[] }>; additionalProperties: boolean } };
    assert.equal(ws.method, 'GET');
    assert.deepEqual(Object.keys(ws.query.properties).sort(), ['format', 'role', ...UPGRADE_QUERY_PARAMS].sort());
    assert.equal(ws.query.additionalProperties, false, 'any other parameter is refused');
    assert.deepEqual(ws.query.properties.role.anyOf!.map((s) => s.const), [...WS_ROLES]);
    assert.deepEqual(ws.query.properties.format.anyOf!.map((s) => s.const), [...WS_FORMATS]);
    const schemes = doc.servers().all()[0].security().flatMap((r) => r.all().map((s) => s.scheme()));
    assert.deepEqual(schemes.map((s) => s.type()).sort(), ['http', 'httpApiKey']);
    assert.ok(schemes.some((s) => s.type() === 'http' && s.scheme() === 'bearer'));
    assert.ok(schemes.some((s) => s.type() === 'httpApiKey' && s.in() === 'query' && s.name() === 'ticket'));
  });

  test('the multiplexed socket: every message it takes, as the schema that checks it, answered by reply or error; its hello; no query parameter', () => {
    const received = receivedOn('/v1/ws');
    const byMessage = new Map(received.flatMap((op) => op.messages().all().map((m) => [m.name(), op] as const)));
    assert.deepEqual([...byMessage.keys()].sort(), [...MUX_MESSAGE_TYPES, 'binary step_batch'].sort());
    assert.ok(MUX_MESSAGE_TYPES.includes('step_batch'));
    // The binary step_batch: a frame whose JSON header is the schema the server checks it with, answered by a binary reply or an error.
    const binary = byMessage.get('binary step_batch')!;
    assert.equal(binary.messages().all()[0].contentType(), 'application/octet-stream');
    assert.deepEqual(binary.reply()!.messages().all().map((m) => m.name()).sort(), ['binary step_batch reply', 'error']);
    assert.deepEqual(raw.components.schemas.binaryStepBatchHeader, JSON.parse(JSON.stringify(BinaryStepBatchHeaderSchema)));
    assert.deepEqual(raw.components.schemas.binaryStepBatchErrors, JSON.parse(JSON.stringify(BinaryStepBatchErrorsSchema)));
    for (const t of MUX_MESSAGE_TYPES) {
      const msg = byMessage.get(t)!.messages().all()[0];
      assert.deepEqual(raw.channels.multiplexed.messages[msg.id()].payload, JSON.parse(JSON.stringify(MUX_MESSAGE_SCHEMAS[t])), `${t}: the payload is the schema the server checks it with`);
      assert.deepEqual(byMessage.get(t)!.reply()!.messages().all().map((m) => m.name()).sort(), ['error', 'reply']);
    }
    assert.deepEqual(raw.channels.multiplexed.messages.hello.payload, JSON.parse(JSON.stringify(MuxHelloMessageSchema)));
    assert.deepEqual(raw.channels.multiplexed.bindings.ws.query.properties, {});
    assert.equal(raw.channels.multiplexed.bindings.ws.query.additionalProperties, false);
  });
});

describe('GET /asyncapi.yaml', () => {
  const app = forTests(() => makeApp());

  test('serves the committed description, and /docs links to it', async () => {
    const r = await app().inject({ method: 'GET', url: '/asyncapi.yaml' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^application\/yaml/);
    assert.equal(r.body, committed);
    assert.ok(r.body.startsWith(ASYNCAPI_HEADER));
    assert.equal((parse(r.body) as { asyncapi: string }).asyncapi, '3.0.0');
    const api = (await app().inject({ method: 'GET', url: '/docs/json' })).json() as { info: { description: string } };
    assert.match(api.info.description, /\[\/asyncapi\.yaml\]\(\/asyncapi\.yaml\)/);
  });
});
