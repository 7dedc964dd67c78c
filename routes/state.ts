/** GET /v1/sessions/{id}/state: everything a user debugging a network wants to see. */
import type { FastifyInstance } from 'fastify';
import { SessionParamsSchema, type SessionParams } from '../src/api/common.js';
import { SessionStateSchema, StateQuerySchema, type StateQuery } from '../src/api/state.js';
import { API_ERRORS, described, errorResponses, SESSION_ERRORS } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';

export default async function stateRoutes(app: FastifyInstance, { sessions }: { sessions: SessionManager }): Promise<void> {
  app.get<{ Params: SessionParams; Querystring: StateQuery }>(
    '/sessions/:id/state',
    {
      schema: {
        tags: ['state'],
        summary: 'Potentials, traces, refractory counters, last spikes and eligibility (a batch\'s per copy)',
        params: SessionParamsSchema,
        querystring: StateQuerySchema,
        response: { 200: described(SessionStateSchema, 'The session\'s state now.'), ...errorResponses('REQUEST_INVALID', 'INPUT_INVALID', ...SESSION_ERRORS, 'PERSISTENCE_FAILED', ...API_ERRORS) },
      },
    },
    (request) => sessions.use(request.params.id, (s) => s.state(request.query.copies, 'query.copies')),
  );
}
