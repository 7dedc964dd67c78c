/** The names of everything the cluster keeps in Redis, in one place (one prefix, so a Redis can be shared). */
const PREFIX = 'spikeserve:';

export const REDIS_KEYS = {
  /** When this Redis's directory began to be filled (ms since the epoch): set by the first node to claim its sessions in it. */
  directorySince: `${PREFIX}directory-since`,
  /** Set of every node id that ever registered (a stopped node stays listed, as not alive). */
  nodes: `${PREFIX}nodes`,
  /** A node's registration (JSON NodeInfo), expiring unless its heartbeat renews it. */
  node: (id: string) => `${PREFIX}node:${id}`,
  /** A session's directory entry: hash { node, epoch }. */
  session: (id: string) => `${PREFIX}session:${id}`,
  /** Set of the session ids the directory gives a node. */
  nodeSessions: (node: string) => `${PREFIX}node-sessions:${node}`,
  /** Per API key (quotas.ts names it), its sessions in the cluster: hash session id -> synapses. */
  keySessions: (key: string) => `${PREFIX}key-sessions:${key}`,
  /** Per API key, the sums over keySessions: hash { sessions, synapses }, changed with it in the same scripts. */
  keyUsage: (key: string) => `${PREFIX}key-usage:${key}`,
  /** Per API key, its QUOTA_STEPS_PER_S bucket: hash { tokens, at } (step-quota.ts), expiring once it would be full again. */
  stepBucket: (key: string) => `${PREFIX}step-bucket:${key}`,
  /** Sessions on their way to a node: a list of JSON handoff notes it pops. */
  inbox: (node: string) => `${PREFIX}inbox:${node}`,
  /** A moving session's saved form, until its new owner has it on disk. */
  handoff: (sessionId: string) => `${PREFIX}handoff:${sessionId}`,
  /** Where the new owner says it has the session (or why not): the old owner waits on it. */
  handoffDone: (sessionId: string) => `${PREFIX}handoff-done:${sessionId}`,
} as const;
