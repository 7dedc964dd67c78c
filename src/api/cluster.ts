/** Schemas of the cluster: a node as it registers itself in Redis, and the operators' view (GET /v1/cluster). */
import { Type, type Static } from '@sinclair/typebox';

export const NodeInfoSchema = Type.Object(
  {
    id: Type.String({ description: 'The node\'s name (NODE_ID).' }),
    url: Type.String({ description: 'Where the other nodes, and clients that skip the hop, reach it (ADVERTISE_URL).' }),
    capacitySynapses: Type.Integer({ description: 'Synapses it may hold in memory (its MAX_TOTAL_SYNAPSES).' }),
    synapses: Type.Integer({ description: 'Synapses of its sessions in memory.' }),
    sessions: Type.Integer({ description: 'Sessions it holds, in memory or hibernated on its disk.' }),
    draining: Type.Boolean({ description: 'Shutting down: its sessions are moving to the other nodes, and no new one is placed on it.' }),
    startedAt: Type.String({ description: 'When it started (ISO 8601).' }),
  },
  { additionalProperties: false },
);
export type NodeInfo = Static<typeof NodeInfoSchema>;

export const ClusterNodeViewSchema = Type.Object(
  {
    ...NodeInfoSchema.properties,
    alive: Type.Boolean({ description: 'Its heartbeat is current: false while it is stopped or cut off (its sessions then answer 503 SESSION_UNAVAILABLE).' }),
    directorySessions: Type.Integer({ description: 'Sessions the session directory says it owns.' }),
  },
  { additionalProperties: false },
);

export const ClusterViewSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('cluster'), Type.Literal('single')], { description: 'single: one process without Redis (REDIS_URL unset); nodes is then empty.' }),
    node: Type.Union([Type.String(), Type.Null()], { description: 'The node that answered.' }),
    nodes: Type.Array(ClusterNodeViewSchema, { description: 'Every node that has registered, alive or not, by id.' }),
  },
  { additionalProperties: false },
);
export type ClusterView = Static<typeof ClusterViewSchema>;
