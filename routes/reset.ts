/** POST /v1/sessions/{id}/reset: back to step 0, weights kept unless asked. */
import type { FastifyInstance } from 'fastify';
import { SessionParamsSchema, type SessionParams } from '../src/api/common.js';
import { ResetBodySchema, ResetResultSchema, type ResetBody } from '../src/api/step.js';
import { API_ERRORS, BODY_ERRORS, CHANGE_ERRORS, described, errorResponses, SESSION_ERRORS } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';

export default async function resetRoutes(app: FastifyInstance, { sessions }: { sessions: SessionManager }): Promise<void> {
  app.post<{ Params: SessionParams; Body: ResetBody }>(
    '/sessions/:id/reset',
    {
      schema: {
        tags: ['run'],
        summary: 'Reset the session',
        description:
          'Potentials, traces, refractory counters, eligibility, spike statistics, the pending update and the step count go back to their start. Weights are kept unless `weights: true`. No body is the same as {}.',
        params: SessionParamsSchema,
        body: ResetBodySchema,
        response: { 200: described(ResetResultSchema, 'Reset.'), ...errorResponses(...CHANGE_ERRORS, ...BODY_ERRORS, ...API_ERRORS, ...SESSION_ERRORS, 'PERSISTENCE_FAILED') },
      },
    },
    (request) => sessions.use(request.params.id, (s) => s.reset(request.body)),
  );
}
