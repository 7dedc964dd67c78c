/**
 * The published contracts: /openapi.yaml, generated from the route schemas,
 * with interactive docs at /docs; and /asyncapi.yaml, the WebSocket protocol,
 * generated from the message schemas.
 */
import type { FastifyInstance } from 'fastify';
import { renderAsyncApi } from '../src/asyncapi.js';
import { errorResponses } from '../src/http/responses.js';

const YAML_TYPE = 'application/yaml; charset=utf-8';

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
    return reply.type(YAML_TYPE).send(yaml);
  });

  let asyncApi: string | null = null;
  app.get('/asyncapi.yaml', {
    schema: {
      tags: ['health'],
      summary: 'The WebSocket protocol\'s AsyncAPI 3.0 description (the same as asyncapi.yaml in the repository)',
      response: { 200: { description: 'The description, as YAML.', content: { 'application/yaml': { schema: { type: 'string' } } } }, ...errorResponses() },
    },
  }, async (_request, reply) => {
    asyncApi ??= renderAsyncApi();
    return reply.type(YAML_TYPE).send(asyncApi);
  });
}
