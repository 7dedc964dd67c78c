/** The published contract: /openapi.yaml, generated from the route schemas, and interactive docs at /docs. */
import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../src/http/responses.js';

export default async function docsRoutes(app: FastifyInstance): Promise<void> {
  let yaml: string | null = null;
  app.get('/openapi.yaml', {
    schema: {
      tags: ['health'],
      summary: 'This API\'s OpenAPI 3.1 description (the same as openapi.yaml in the repository)',
      response: { 200: { description: 'The description, as YAML.', content: { 'application/yaml': { schema: { type: 'string' } } } }, ...errorResponses() },
    },
  }, async (_request, reply) => {
    yaml ??= app.swagger({ yaml: true });
    return reply.type('application/yaml; charset=utf-8').send(yaml);
  });
}
