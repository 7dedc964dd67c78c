/** Size limits a spec is checked against before anything is allocated. The
 * service sets them from its configuration; these defaults keep one session
 * well under a gigabyte (a synapse costs 8 bytes of weight plus a share of
 * rule state). */
export interface EngineLimits {
  /** Neurons summed over all populations. */
  maxNeurons: number;
  /** Synapses (pre.n * post.n) summed over all connections. */
  maxSynapses: number;
  /** Populations in one network (default 1000): each costs bookkeeping whatever its size. */
  maxPopulations?: number;
  /** Connections in one network (default 1000). */
  maxConnections?: number;
  /** Copies in a batch (default 64); each copy also counts in maxNeurons and maxSynapses. */
  maxBatchSize?: number;
}

export const DEFAULT_ENGINE_LIMITS: Readonly<Required<EngineLimits>> = Object.freeze({
  maxNeurons: 200_000,
  maxSynapses: 20_000_000,
  maxPopulations: 1000,
  maxConnections: 1000,
  maxBatchSize: 64,
});
