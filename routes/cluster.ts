/** GET /v1/cluster: the nodes of the cluster, their load and sessions, for operators. */
import type { FastifyInstance } from 'fastify';
import { ClusterViewSchema, type ClusterView } from '../src/api/cluster.js';
import type { ClusterNode } from '../src/cluster/node.js';
import { API_ERRORS, described, errorResponses } from '../src/http/responses.js';

export default async function clusterRoutes(app: FastifyInstance, { cluster }: { cluster: ClusterNode | null }): Promise<void> {
  app.get(
    '/cluster',
    {
      schema: {
        tags: ['health'],
        summary: 'The cluster: its nodes, their load and sessions',
        description:
          'Every node that registered in the cluster\'s Redis (REDIS_URL), alive or not: its advertised URL, capacity and load, whether it is draining, and the sessions the directory gives it. Without REDIS_URL the server runs on its own: mode is single and nodes is empty. /metrics, /healthz and /readyz stay per node.',
        response: { 200: described(ClusterViewSchema, 'The cluster as Redis has it now.'), ...errorResponses('SESSION_UNAVAILABLE', ...API_ERRORS) },
      },
    },
    async (): Promise<ClusterView> => {
      if (cluster === null) return { mode: 'single', node: null, nodes: [] };
      return cluster.view();
    },
  );
}
