/** The engine's public surface. Pure TypeScript: no server, logging or file system. */
export { Network, checkReward } from './network.js';
export type { NetworkOptions, ResetOptions, RunPlan, RunRequest, StepInputs, StepOptions } from './network.js';
export { BACKEND_NAMES } from './backends/index.js';
export type { BackendName } from './backends/index.js';
export { initTfjs, tfjsInfo, TFJS_PLATFORMS, TfjsInfoSchema } from './backends/tfjs/platform.js';
export type { TfjsInfo, TfjsInitOptions, TfjsPlatform } from './backends/tfjs/platform.js';
export { DEFAULT_ENGINE_LIMITS } from './limits.js';
export { connectionShape, synapseCount } from './spec-sizes.js';
export { VALUES_PER_PAUSE } from './pause.js';
export type { EngineLimits } from './limits.js';
export { resolveSpec, checkSpecCounts, POPULATION_DEFAULTS, MSTDP_DEFAULTS } from './validate.js';
export * from './spec-schema.js';
export { SnapshotSchema, SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from './snapshot.js';
export type { Snapshot, TypedSnapshot } from './snapshot.js';
export { replay, checkReplayCase, buildReplayNetwork, ReplayCaseSchema } from './replay.js';
export type { ReplayCase, ReplayResult } from './replay.js';
export { MAX_SEED } from './random.js';
