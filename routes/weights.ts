/** /v1/sessions/{id}/weights: read every connection's weights, read or write one. */
import type { FastifyInstance } from 'fastify';
import { ConnectionParamsSchema, SessionParamsSchema, type ConnectionParams, type SessionParams } from '../src/api/common.js';
import { AllWeightsSchema, ConnectionWeightsSchema, PutWeightsBodySchema, type PutWeightsBody } from '../src/api/state.js';
import { API_ERRORS, BODY_ERRORS, described, errorResponses } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';

export default async function weightRoutes(app: FastifyInstance, { sessions }: { sessions: SessionManager }): Promise<void> {
  app.get<{ Params: SessionParams }>(
    '/sessions/:id/weights',
    {
      schema: {
        tags: ['weights'],
        summary: 'Every connection\'s weights',
        params: SessionParamsSchema,
        response: { 200: described(AllWeightsSchema, 'The weights of every connection.'), ...errorResponses('SESSION_NOT_FOUND', 'PERSISTENCE_FAILED', ...API_ERRORS) },
      },
    },
    async (request) => sessions.get(request.params.id).allWeights(),
  );

  app.get<{ Params: ConnectionParams }>(
    '/sessions/:id/weights/:connection',
    {
      schema: {
        tags: ['weights'],
        summary: 'One connection\'s weights and bounds',
        params: ConnectionParamsSchema,
        response: { 200: described(ConnectionWeightsSchema, 'The connection\'s weights.'), ...errorResponses('SESSION_NOT_FOUND', 'CONNECTION_NOT_FOUND', 'PERSISTENCE_FAILED', ...API_ERRORS) },
      },
    },
    async (request) => sessions.get(request.params.id).weights(request.params.connection),
  );

  app.put<{ Params: ConnectionParams; Body: PutWeightsBody }>(
    '/sessions/:id/weights/:connection',
    {
      schema: {
        tags: ['weights'],
        summary: 'Replace one connection\'s weights',
        description:
          'The matrix must be [pre.n][post.n] of finite numbers; values are clamped into [w_min, w_max] and the stored weights are returned. While an update is pending, it applies on top of the new weights.',
        params: ConnectionParamsSchema,
        body: PutWeightsBodySchema,
        response: {
          200: described(ConnectionWeightsSchema, 'The weights as stored (clamped into the bounds).'),
          ...errorResponses(...BODY_ERRORS, ...API_ERRORS, 'WEIGHTS_INVALID', 'SESSION_NOT_FOUND', 'CONNECTION_NOT_FOUND', 'PERSISTENCE_FAILED'),
        },
      },
    },
    async (request) => sessions.get(request.params.id).setWeights(request.params.connection, request.body.weights),
  );
}
