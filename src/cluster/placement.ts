/**
 * Where a new session goes: the live node, not draining, with the most free
 * capacity (synapses it may still hold in memory); ties go to the node with
 * fewer sessions, then by id, so that every node decides alike.
 */
import type { NodeInfo } from '../api/cluster.js';

export function placeSession(nodes: readonly NodeInfo[]): NodeInfo | null {
  let best: NodeInfo | null = null;
  for (const n of nodes) {
    if (n.draining) continue;
    if (best === null || better(n, best)) best = n;
  }
  return best;
}

function better(a: NodeInfo, b: NodeInfo): boolean {
  const freeA = a.capacitySynapses - a.synapses;
  const freeB = b.capacitySynapses - b.synapses;
  if (freeA !== freeB) return freeA > freeB;
  if (a.sessions !== b.sessions) return a.sessions < b.sessions;
  return a.id < b.id;
}
