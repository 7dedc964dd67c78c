/** GET /v1/sessions/{id}/snapshot: export a session; POST /v1/sessions with it restores or forks it. */
import type { FastifyInstance } from 'fastify';
import { ref, SessionParamsSchema, type SessionParams } from '../src/api/common.js';
import { SnapshotSchema } from '../src/engine/index.js';
import { API_ERRORS, errorResponses } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';

export default async function snapshotRoutes(app: FastifyInstance, { sessions }: { sessions: SessionManager }): Promise<void> {
  app.get<{ Params: SessionParams }>(
    '/sessions/:id/snapshot',
    {
      schema: {
        tags: ['state'],
        summary: 'Export the session',
        description:
          'Everything the session needs to continue bit for bit: weights, every state variable, the pending update, the step count and the random generator. POST it to /v1/sessions as `snapshot` to restore it, or to fork a copy.',
        params: SessionParamsSchema,
        response: { 200: ref(SnapshotSchema, { description: 'The snapshot.' }), ...errorResponses('SESSION_NOT_FOUND', 'PERSISTENCE_FAILED', ...API_ERRORS) },
      },
    },
    async (request) => sessions.get(request.params.id).snapshot(),
  );
}
