/** A SessionManager with limits that never get in a test's way, for tests of persistence without HTTP. */
import assert from 'node:assert/strict';
import { SessionManager, type SessionManagerOptions } from '../../src/sessions/manager.js';

export function persistManager(over: Partial<SessionManagerOptions> = {}): SessionManager {
  return new SessionManager({
    limits: { maxNeurons: 1000, maxSynapses: 100_000, maxStepsPerCall: 1_000_000, maxSpikeRecordsPerCall: 10_000_000 },
    maxSessions: 100,
    maxTotalSynapses: 10_000_000,
    idleTimeoutMs: 0,
    sliceMs: 5,
    ...over,
  });
}

/** Restores `m`'s sessions from its store, none damaged, and session `id` as it was (its snapshot `before`); closes `m`. */
export async function assertRestored(m: SessionManager, id: string, before: unknown): Promise<void> {
  const report = m.restore();
  assert.deepEqual(report.damaged, []);
  assert.deepEqual(await m.get(id).snapshot(), before);
  await m.close();
}
