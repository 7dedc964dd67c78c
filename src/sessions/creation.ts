/**
 * A new session, from a spec or an exported snapshot: the body checked, the
 * network built (pausing while it is), room made and the limits and quotas
 * checked again once its size is known, its first snapshot saved with it.
 */
import { randomUUID } from 'node:crypto';
import { checkSpecCounts, Network, synapseCount } from '../engine/index.js';
import { SpikeserveError } from '../errors.js';
import type { CreateSessionBody } from '../api/sessions.js';
import type { SnapshotData } from '../persist/pending-batch.js';
import type { SessionLog } from '../persist/session-log.js';
import type { Owner } from './capacity.js';
import type { HeldSessions } from './held-sessions.js';
import { makeRoom, savingForRoom } from './hibernation.js';
import type { Session, SessionLimits } from './session.js';
import { SpikeStats } from './spike-stats.js';

/**
 * The cheap part of creation's checks, for a body not yet validated: the
 * counts of populations and connections, which bound what validating the
 * rest costs. Throws LIMIT_EXCEEDED.
 */
export function precheckCreate(body: unknown, limits: SessionLimits): void {
  if (typeof body !== 'object' || body === null) return;
  const { network, snapshot } = body as { network?: unknown; snapshot?: unknown };
  if (network !== undefined) checkSpecCounts(network, limits, 'network');
  if (typeof snapshot === 'object' && snapshot !== null) checkSpecCounts((snapshot as { network?: unknown }).network, limits, 'snapshot.network');
}

/** Creation, pausing (yield) while the network is built. */
export function* creating(held: HeldSessions, body: CreateSessionBody, owner: Owner): Generator<void, Session> {
  held.checkOpen();
  held.opts.admitCreate?.();
  const hasNetwork = body.network !== undefined;
  const hasSnapshot = body.snapshot !== undefined;
  if (hasNetwork === hasSnapshot) {
    throw new SpikeserveError('REQUEST_INVALID', 'body: give either "network" (a new session) or "snapshot" (restore an exported one), exactly one of them', {
      field: hasNetwork ? 'snapshot' : 'network',
    });
  }
  if (hasSnapshot && body.seed !== undefined) {
    throw new SpikeserveError('REQUEST_INVALID', 'seed: a snapshot carries its own seed and generator state; leave seed out', { field: 'seed' });
  }
  held.capacity.check(owner, held.entries.size, 0);
  const { maxNeurons, maxSynapses, maxPopulations, maxConnections, maxBatchSize } = held.opts.limits;
  const limits = { maxNeurons, maxSynapses, maxPopulations, maxConnections, maxBatchSize };
  const backend = body.backend ?? 'native';
  const net = hasSnapshot
    ? yield* Network.restore(body.snapshot, { limits, backend })
    : yield* Network.build(body.network, { seed: body.seed ?? 0, limits, backend });
  const synapses = synapseCount(net.spec);
  const admit = () => {
    held.checkOpen();
    if (!held.capacity.fits(synapses) && makeRoom(held, synapses) && !held.capacity.fits(synapses)) throw savingForRoom(held, 'the new session does not fit in memory now');
    held.capacity.check(owner, held.entries.size, synapses);
  };
  const stats = new SpikeStats(net.populationNames.length);
  const journal = held.journal;
  let first: SnapshotData | null = null;
  try {
    // Again, with the network's synapses: other sessions may have come and gone while it was built.
    admit();
    if (journal) {
      // Not a copy: nothing else reaches this network yet.
      first = yield* journal.encodePausing(net.snapshotView());
      // And again if its first snapshot was written in parts, over several turns.
      if (!Buffer.isBuffer(first)) admit();
    }
  } catch (e) {
    net.dispose();
    if (first !== null) journal!.discard(first);
    throw e;
  }
  // A restored session keeps the name its snapshot carries unless given a new one.
  const name = body.name ?? (hasSnapshot ? (body.snapshot as { name?: string | null }).name : null) ?? null;
  const fields = { id: randomUUID(), name, seq: held.seq + 1, owner, createdAt: held.opts.now() };
  let log: SessionLog | null = null;
  if (journal) {
    log = journal.create(
      { id: fields.id, owner, name: fields.name, seq: fields.seq, createdAt: fields.createdAt, backend: net.backend },
      { meta: JSON.stringify(stats.meta()), data: first! },
    );
  }
  held.seq = fields.seq;
  const session = held.add(net, fields, log);
  held.capacity.owned(owner, synapseCount(net.spec), 1);
  return session;
}
