/** POST /v1/batch/step: step many sessions in one request (vectorised environments, many agents). */
import type { FastifyInstance } from 'fastify';
import { BatchStepBodySchema, BatchStepResultSchema, type BatchStepBody, type BatchStepOutcome } from '../src/api/batch.js';
import { SpikeserveError } from '../src/errors.js';
import { toCodedError } from '../src/http/errors.js';
import { API_ERRORS, BODY_ERRORS, described, errorResponses } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';

export interface BatchRouteOptions {
  sessions: SessionManager;
  maxItems: number;
  bodyLimit: number;
}

export default async function batchRoutes(app: FastifyInstance, { sessions, maxItems, bodyLimit }: BatchRouteOptions): Promise<void> {
  app.post<{ Body: BatchStepBody }>(
    '/batch/step',
    {
      schema: {
        tags: ['run'],
        summary: 'Step many sessions in one request',
        description:
          'Each item is a session id with the fields of POST /v1/sessions/{id}/step. Every item runs as that step would (same validation, limits, quotas, ownership: another key\'s session is SESSION_NOT_FOUND), and its outcome is on disk when the reply is sent. One item\'s failure does not fail the others: the reply has, per item and in order, {ok: true, result} or {ok: false, error}. Items of one session run in their order. At most MAX_BATCH_ITEMS items (422 LIMIT_EXCEEDED).',
        body: BatchStepBodySchema,
        response: {
          200: described(BatchStepResultSchema, 'Every item ran or failed on its own; see each outcome.'),
          ...errorResponses(...BODY_ERRORS, ...API_ERRORS, 'LIMIT_EXCEEDED'),
        },
      },
    },
    async (request) => {
      const { items } = request.body;
      if (items.length > maxItems) {
        throw new SpikeserveError('LIMIT_EXCEEDED', `items: ${items.length} items, more than the limit of ${maxItems} (MAX_BATCH_ITEMS); split the batch`, {
          field: 'items',
          limit: 'maxBatchItems',
          max: maxItems,
          value: items.length,
        });
      }
      // Queued in item order, so items of one session keep their order on its
      // queue (a session on disk is loaded once; its items follow in order).
      const runs = items.map(({ id, ...body }) => sessions.open(id, request.owner).then((s) => s.step(body)));
      const settled = await Promise.allSettled(runs);
      const results: BatchStepOutcome[] = settled.map((s) =>
        s.status === 'fulfilled' ? { ok: true, result: s.value } : { ok: false, error: toCodedError(s.reason, request.id, bodyLimit).body.error },
      );
      return { results };
    },
  );
}
