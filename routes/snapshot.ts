/** GET /v1/sessions/{id}/snapshot: export a session; POST /v1/sessions with it restores or forks it. */
import type { FastifyInstance } from 'fastify';
import { ref, SessionParamsSchema, type SessionParams } from '../src/api/common.js';
import { SnapshotSchema } from '../src/engine/index.js';
import { BINARY, binarySchema, snapshotStream, wantsBinary } from '../src/http/binary.js';
import { jsonStream } from '../src/api/json-slices.js';
import { API_ERRORS, errorResponses, SESSION_ERRORS } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';

export default async function snapshotRoutes(app: FastifyInstance, { sessions }: { sessions: SessionManager }): Promise<void> {
  app.get<{ Params: SessionParams }>(
    '/sessions/:id/snapshot',
    {
      schema: {
        tags: ['state'],
        summary: 'Export the session',
        description:
          `Everything the session needs to continue bit for bit: weights, every state variable, the pending update, the step count and the random generator. POST it to /v1/sessions as \`snapshot\` to restore it, or to fork a copy. With \`Accept: ${BINARY}\`, the same snapshot in binary (the layout below): about 8 bytes a number instead of 19, exact, and accepted back by POST /v1/sessions however large (a JSON body is held to BODY_LIMIT_BYTES).`,
        params: SessionParamsSchema,
        response: {
          200: {
            description: 'The snapshot.',
            content: {
              'application/json': { schema: ref(SnapshotSchema) },
              [BINARY]: { schema: binarySchema('The snapshot as a blob: "SSB1", u32 LE skeleton length, the JSON skeleton with every array of numbers replaced by {"$f": offset, "$n": length}, zero padding to a multiple of 8, then the numbers as float64 LE.') },
            },
          },
          ...errorResponses(...SESSION_ERRORS, 'PERSISTENCE_FAILED', ...API_ERRORS),
        },
      },
    },
    async (request, reply) => {
      // Copied in slices by the session, then sent a chunk (binary) or slice (JSON) at a time: millions of numbers in one go would hold the event loop.
      const snap = await (await sessions.open(request.params.id)).snapshotTyped();
      if (wantsBinary(request)) return reply.type(BINARY).send(snapshotStream(snap));
      return reply.type('application/json; charset=utf-8').send(jsonStream(snap));
    },
  );
}
