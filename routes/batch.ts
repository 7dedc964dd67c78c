/** POST /v1/batch/step: step many sessions in one request (vectorised environments, many agents). */
import type { FastifyInstance } from 'fastify';
import { BatchStepBodySchema, BatchStepResultSchema, type BatchStepBody, type BatchStepItem, type BatchStepOutcome } from '../src/api/batch.js';
import { stepAcross } from '../src/cluster/batch.js';
import type { ClusterNode } from '../src/cluster/node.js';
import { toCodedError } from '../src/http/errors.js';
import { API_ERRORS, BODY_ERRORS, described, errorResponses } from '../src/http/responses.js';
import { checkBatchSize, stepEach } from '../src/sessions/batch-step.js';
import type { SessionManager } from '../src/sessions/manager.js';

export interface BatchRouteOptions {
  sessions: SessionManager;
  /** This server as a node of a cluster: items of sessions on other nodes go to their owners. */
  cluster: ClusterNode | null;
  maxItems: number;
  bodyLimit: number;
}

export default async function batchRoutes(app: FastifyInstance, { sessions, cluster, maxItems, bodyLimit }: BatchRouteOptions): Promise<void> {
  app.post<{ Body: BatchStepBody }>(
    '/batch/step',
    {
      schema: {
        tags: ['run'],
        summary: 'Step many sessions in one request',
        description:
          'Each item is a session id with the fields of POST /v1/sessions/{id}/step. Every item runs as that step would (same validation, limits, quotas, ownership: another key\'s session is SESSION_NOT_FOUND), and its outcome is on disk when the reply is sent. One item\'s failure does not fail the others: the reply has, per item and in order, {ok: true, result} or {ok: false, error}. Items of one session run in their order. At most MAX_BATCH_ITEMS items (422 LIMIT_EXCEEDED). In a cluster the items of sessions on other nodes are passed on to them; an item whose node is down gets SESSION_UNAVAILABLE on its own.',
        body: BatchStepBodySchema,
        response: {
          200: described(BatchStepResultSchema, 'Every item ran or failed on its own; see each outcome.'),
          ...errorResponses(...BODY_ERRORS, ...API_ERRORS, 'LIMIT_EXCEEDED'),
        },
      },
    },
    async (request) => {
      const { items } = request.body;
      checkBatchSize(items.length, maxItems);
      const errorOf = (e: unknown) => toCodedError(e, request.id, bodyLimit).body.error;
      const runHere = async (here: BatchStepItem[]): Promise<BatchStepOutcome[]> => {
        const settled = await stepEach(sessions, here, request.owner, Infinity);
        return settled.map((s) => (s.status === 'fulfilled' ? { ok: true, result: s.value } : { ok: false, error: errorOf(s.reason) }));
      };
      const results = cluster ? await stepAcross(cluster, items, { headers: request.headers, runHere, errorOf }) : await runHere(items);
      return { results };
    },
  );
}
