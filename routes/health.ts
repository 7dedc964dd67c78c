/** /healthz (the process answers) and /readyz (it takes work). */
import type { FastifyInstance } from 'fastify';
import { HealthSchema, ReadySchema } from '../src/api/state.js';
import { BACKEND_REPORT_SCHEMAS, backendReports } from '../src/engine/index.js';
import { SpikeserveError } from '../src/errors.js';
import { described, errorResponses } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';

export default async function healthRoutes(
  app: FastifyInstance,
  { sessions, isClosing }: { sessions: SessionManager; isClosing: () => boolean },
): Promise<void> {
  app.get('/healthz', {
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process answers',
      description: `Also says what runs behind the ${Object.keys(BACKEND_REPORT_SCHEMAS).map((b) => `"${b}"`).join(', ')} backend.`,
      response: { 200: described(HealthSchema, 'Alive.'), ...errorResponses() },
    },
  }, async () => ({ status: 'ok' as const, ...backendReports() }));

  app.get('/readyz', {
    schema: {
      tags: ['health'],
      summary: 'Readiness: the service takes new work',
      description: '503 SHUTTING_DOWN once a shutdown has begun.',
      response: { 200: described(ReadySchema, 'Ready.'), ...errorResponses() },
    },
  }, async () => {
    if (isClosing()) throw new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down');
    return { status: 'ready' as const, sessions: sessions.size };
  });
}
