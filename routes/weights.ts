/** /v1/sessions/{id}/weights: read every connection's weights, read or write one; as JSON or binary. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConnectionParamsSchema, SessionParamsSchema, type ConnectionParams, type SessionParams } from '../src/api/common.js';
import { AllWeightsSchema, ConnectionWeightsSchema, PutWeightsBodySchema, type PutWeightsBody, type WeightMatrices } from '../src/api/state.js';
import { acceptBinaryBodies, BINARY, binarySchema, decodeWeights, wantsBinary, weightsStream, WEIGHTS_VALUES_AT } from '../src/http/binary.js';
import { jsonStream } from '../src/api/json-slices.js';
import { SpikeserveError } from '../src/errors.js';
import { API_ERRORS, BODY_ERRORS, CHANGE_ERRORS, errorResponses, SESSION_ERRORS } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';
import { allWeightsOf, connectionWeightsOf } from '../src/sessions/views.js';

const FRAME = 'a binary frame of kind weights (the WebSocket protocol\'s frame layout, described in /asyncapi.yaml), with one weights64 section (float64, little-endian, row-major) per connection, its index the connection\'s position in rule order';

/** A reply of both media types, the JSON one described by `schema`. */
function eitherType(schema: object, description: string, binary: string) {
  return { description, content: { 'application/json': { schema }, [BINARY]: { schema: binarySchema(binary) } } };
}

/** JSON written in slices, or binary a chunk at a time: a large matrix in one go would hold the event loop. */
function send(request: FastifyRequest, reply: FastifyReply, w: WeightMatrices, json: unknown): FastifyReply {
  if (wantsBinary(request)) return reply.type(BINARY).send(weightsStream(w));
  return reply.type('application/json; charset=utf-8').send(jsonStream(json));
}

export default async function weightRoutes(app: FastifyInstance, { sessions }: { sessions: SessionManager }): Promise<void> {
  // A binary matrix as large as a session may hold, even past BODY_LIMIT_BYTES (JSON's bound).
  acceptBinaryBodies(app, Math.max(app.initialConfig.bodyLimit ?? 0, 8 * sessions.limits.maxSynapses + 64 * 1024), WEIGHTS_VALUES_AT);

  app.get<{ Params: SessionParams }>(
    '/sessions/:id/weights',
    {
      schema: {
        tags: ['weights'],
        summary: 'Every connection\'s weights',
        description: `JSON, or with \`Accept: ${BINARY}\` ${FRAME}.`,
        params: SessionParamsSchema,
        response: {
          200: eitherType(AllWeightsSchema, 'The weights of every connection.', `${FRAME}.`),
          ...errorResponses(...SESSION_ERRORS, 'PERSISTENCE_FAILED', ...API_ERRORS),
        },
      },
    },
    async (request, reply) => {
      const w = await (await sessions.open(request.params.id)).weightMatrices();
      return send(request, reply, w, allWeightsOf(w));
    },
  );

  app.get<{ Params: ConnectionParams }>(
    '/sessions/:id/weights/:connection',
    {
      schema: {
        tags: ['weights'],
        summary: 'One connection\'s weights and bounds',
        description: `JSON, or with \`Accept: ${BINARY}\` ${FRAME} (one section; the bounds are in the session's network).`,
        params: ConnectionParamsSchema,
        response: {
          200: eitherType(ConnectionWeightsSchema, 'The connection\'s weights.', `${FRAME}: one section.`),
          ...errorResponses(...SESSION_ERRORS, 'CONNECTION_NOT_FOUND', 'PERSISTENCE_FAILED', ...API_ERRORS),
        },
      },
    },
    async (request, reply) => {
      const w = await (await sessions.open(request.params.id)).weightMatrices(request.params.connection);
      return send(request, reply, w, connectionWeightsOf(w));
    },
  );

  app.put<{ Params: ConnectionParams; Body: PutWeightsBody | Buffer }>(
    '/sessions/:id/weights/:connection',
    {
      schema: {
        tags: ['weights'],
        summary: 'Replace one connection\'s weights',
        description:
          `The matrix must be [pre.n][post.n] of finite numbers; values are clamped into [w_min, w_max] and the stored weights are returned. While an update is pending, it applies on top of the new weights. In binary (content-type ${BINARY}), the body is what GET .../weights/{connection} returns with Accept: ${BINARY}: a weights frame with one weights64 section of pre.n x post.n values (its index is not checked), up to 8 bytes a synapse of MAX_SYNAPSES_PER_SESSION whatever BODY_LIMIT_BYTES; the reply is binary too if Accept asks for it.`,
        params: ConnectionParamsSchema,
        body: {
          content: {
            'application/json': { schema: PutWeightsBodySchema },
            [BINARY]: { schema: binarySchema(`${FRAME}: one section.`) },
          },
        },
        response: {
          200: eitherType(ConnectionWeightsSchema, 'The weights as stored (clamped into the bounds).', `${FRAME}: one section.`),
          ...errorResponses(...CHANGE_ERRORS, ...BODY_ERRORS, ...API_ERRORS, 'WEIGHTS_INVALID', ...SESSION_ERRORS, 'CONNECTION_NOT_FOUND', 'PERSISTENCE_FAILED'),
        },
      },
    },
    async (request, reply) => {
      const session = await sessions.open(request.params.id);
      const { connection } = request.params;
      let weights: unknown;
      if (Buffer.isBuffer(request.body)) {
        const [rows, cols] = session.shapeOf(connection);
        weights = decodeWeights(request.body, rows, cols);
      } else if (request.body) {
        weights = request.body.weights;
      } else {
        // No content-type, so no schema ran.
        throw new SpikeserveError('REQUEST_INVALID', `body: a JSON object is required (send it with content-type: application/json, or a binary frame with content-type: ${BINARY})`, { field: 'body' });
      }
      const w = await session.replaceWeights(connection, weights);
      return send(request, reply, w, connectionWeightsOf(w));
    },
  );
}
