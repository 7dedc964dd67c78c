/** A SessionManager with limits that never get in a test's way, for tests of persistence without HTTP. */
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
