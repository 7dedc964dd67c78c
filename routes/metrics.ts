/** GET /metrics: Prometheus text format. */
import type { FastifyInstance } from 'fastify';
import { API_ERRORS, errorResponses } from '../src/http/responses.js';
import type { Metrics } from '../src/metrics.js';

export default async function metricsRoutes(app: FastifyInstance, { metrics }: { metrics: Metrics }): Promise<void> {
  app.get('/metrics', {
    schema: {
      tags: ['health'],
      summary: 'Metrics in Prometheus\' text format',
      description:
        'Sessions, network steps, step-call latency, requests refused by error code, persistence lag and commits, overload, what the last start restored, and the process\'s CPU, memory, event loop and GC. With API_KEYS set it needs a key, as /v1 does.',
      response: {
        200: { description: 'The metrics.', content: { 'text/plain': { schema: { type: 'string' } } } },
        ...errorResponses(...API_ERRORS),
      },
    },
  }, async (_request, reply) => {
    const body = await metrics.render();
    return reply.type(metrics.contentType).send(body);
  });
}
