/** /v1/sessions: create (from a spec or a snapshot), list, describe, delete. */
import type { FastifyInstance } from 'fastify';
import { ref, SessionParamsSchema, type SessionParams } from '../src/api/common.js';
import {
  CreateSessionBodySchema,
  CreateSessionQuerySchema,
  DeletedSchema,
  ListSessionsQuerySchema,
  SessionDetailSchema,
  SessionListSchema,
  type CreateSessionBody,
  type CreateSessionQuery,
  type ListSessionsQuery,
} from '../src/api/sessions.js';
import { DEFAULT_ENGINE_LIMITS } from '../src/engine/index.js';
import { SpikeserveError } from '../src/errors.js';
import { acceptBinaryBodies, BINARY, binarySchema, decodeSnapshot, maxSnapshotBytes } from '../src/http/binary.js';
import { API_ERRORS, BODY_ERRORS, CHANGE_ERRORS, described, errorResponses, SESSION_ERRORS } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';
import { listSessions } from '../src/cluster/listing.js';
import type { ClusterNode } from '../src/cluster/node.js';

export interface SessionRouteOptions {
  sessions: SessionManager;
  /** This server as a node of a cluster: the listing spans its nodes. */
  cluster: ClusterNode | null;
}

export default async function sessionRoutes(app: FastifyInstance, { sessions, cluster }: SessionRouteOptions): Promise<void> {
  // Every snapshot this server exports comes back in, in binary, whatever BODY_LIMIT_BYTES (which holds JSON).
  const limits = { ...DEFAULT_ENGINE_LIMITS, ...sessions.limits };
  acceptBinaryBodies(app, Math.max(app.initialConfig.bodyLimit ?? 0, maxSnapshotBytes(limits)));

  app.post<{ Body: CreateSessionBody | Buffer; Querystring: CreateSessionQuery }>(
    '/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Create a session',
        description:
          `From a network spec (a new session, initial weights from the spec or the seeded draw) or from a snapshot (restore a session, or fork a copy that then runs on its own). Returns the session with its id, the network with every default filled in, and its limits. A snapshot may also come in binary (content-type ${BINARY}, the body exactly what GET .../snapshot returns with Accept: ${BINARY}), with \`name\` and \`backend\` in the query string; it is accepted up to the size of the largest snapshot a session within this server's limits exports, whatever BODY_LIMIT_BYTES.`,
        querystring: CreateSessionQuerySchema,
        body: {
          content: {
            'application/json': { schema: CreateSessionBodySchema },
            [BINARY]: { schema: binarySchema('A binary snapshot, as GET /v1/sessions/{id}/snapshot returns it with Accept: application/octet-stream.') },
          },
        },
        response: {
          201: ref(SessionDetailSchema, { description: 'Created; the Location header points at it.' }),
          ...errorResponses(
            ...CHANGE_ERRORS,
            ...BODY_ERRORS,
            ...API_ERRORS,
            'SPEC_INVALID',
            'SNAPSHOT_INVALID',
            'SNAPSHOT_VERSION_UNSUPPORTED',
            'LIMIT_EXCEEDED',
            'QUOTA_EXCEEDED',
            'OVERLOADED',
            'PERSISTENCE_FAILED',
          ),
        },
      },
      // Before the schema walks a body of, say, 100,000 populations.
      preValidation: async (request) => sessions.precheck(request.body),
    },
    async (request, reply) => {
      const session = await sessions.createInSlices(createBody(request.body, request.query, sessions), request.owner ?? null);
      // 201 only once the session is on disk (with persistence on).
      await session.persisted();
      request.log.info({ sessionId: session.id, from: Buffer.isBuffer(request.body) || request.body.snapshot ? 'snapshot' : 'network' }, 'session created');
      reply.code(201).header('location', `/v1/sessions/${session.id}`);
      return session.detail();
    },
  );

  app.get<{ Querystring: ListSessionsQuery }>(
    '/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'List sessions, oldest first, a page at a time',
        description:
          'The caller\'s sessions (every session on a server without API keys), loaded or on disk. In a cluster, those of every node: oldest first by creation time, and a node that does not answer is named in unavailableNodes.',
        querystring: ListSessionsQuerySchema,
        response: { 200: described(SessionListSchema, 'A page of sessions.'), ...errorResponses('REQUEST_INVALID', ...API_ERRORS) },
      },
    },
    async (request) => {
      if (cluster) return listSessions(cluster, request.query, request.owner, request.headers);
      if (request.query.cursor?.includes('_')) {
        throw new SpikeserveError('REQUEST_INVALID', 'cursor: a cursor of a cluster\'s listing; this server runs on its own: pass the `next` of its own previous page', { field: 'cursor' });
      }
      const page = sessions.list({ ...request.query, owner: request.owner });
      return { sessions: page.sessions, next: page.next, total: page.total };
    },
  );

  app.get<{ Params: SessionParams }>(
    '/sessions/:id',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Describe a session',
        description: 'Its network, step count, pending update, times, limits, and spike and weight statistics.',
        params: SessionParamsSchema,
        response: { 200: ref(SessionDetailSchema, { description: 'The session.' }), ...errorResponses(...SESSION_ERRORS, 'PERSISTENCE_FAILED', ...API_ERRORS) },
      },
    },
    async (request) => (await sessions.open(request.params.id)).detail(),
  );

  app.delete<{ Params: SessionParams }>(
    '/sessions/:id',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Delete a session',
        description: 'Frees it at once; a long step running on it stops and its caller gets SESSION_NOT_FOUND.',
        params: SessionParamsSchema,
        response: { 200: described(DeletedSchema, 'Deleted.'), ...errorResponses(...CHANGE_ERRORS, 'SESSION_NOT_FOUND', 'PERSISTENCE_FAILED', ...API_ERRORS) },
      },
    },
    async (request) => {
      const id = request.params.id;
      // Respond once the session is gone from the manager (and the database); its memory is released when its queue empties.
      await sessions.delete(id, request.owner);
      request.log.info({ sessionId: id }, 'session deleted');
      return { id, deleted: true as const };
    },
  );
}

/** The JSON body, or a binary snapshot with the query's name and backend. */
function createBody(body: CreateSessionBody | Buffer | undefined, query: CreateSessionQuery, sessions: SessionManager): CreateSessionBody {
  const fromQuery = query.name !== undefined || query.backend !== undefined;
  if (Buffer.isBuffer(body)) {
    const out: CreateSessionBody = { snapshot: decodeSnapshot(body) as CreateSessionBody['snapshot'], ...query };
    sessions.precheck(out);
    return out;
  }
  // No content-type, so no schema ran.
  if (!body) throw new SpikeserveError('REQUEST_INVALID', 'body: a JSON object is required (send it with content-type: application/json)', { field: 'body' });
  if (fromQuery) {
    throw new SpikeserveError('REQUEST_INVALID', 'query: name and backend go in the JSON body; the query string carries them only for a binary snapshot', {
      field: query.name !== undefined ? 'query.name' : 'query.backend',
    });
  }
  return body;
}
