/**
 * Sizes read off a spec: a connection's matrix shape and the synapses of a
 * network. Own properties only, so that they also serve on a spec not yet
 * checked (a population named "constructor" is not Object's).
 */

interface SizedSpec {
  populations: Record<string, { n: number }>;
  connections?: Record<string, { pre: string; post: string }>;
}

function size(spec: SizedSpec, population: string): number | undefined {
  return Object.hasOwn(spec.populations, population) ? spec.populations[population].n : undefined;
}

/** [rows, cols] = [pre.n, post.n] of a connection of a checked spec. */
export function connectionShape(spec: SizedSpec, connection: { pre: string; post: string }): [number, number] {
  return [spec.populations[connection.pre].n, spec.populations[connection.post].n];
}

/** Synapses (pre.n x post.n) summed over the connections; one naming a population that is not there counts none. */
export function synapseCount(spec: SizedSpec): number {
  let n = 0;
  for (const c of Object.values(spec.connections ?? {})) {
    const pre = size(spec, c.pre);
    const post = size(spec, c.post);
    if (pre !== undefined && post !== undefined) n += pre * post;
  }
  return n;
}
