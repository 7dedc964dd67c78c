/**
 * What a backend gives the engine and its host: its name, how it starts, what
 * it reports, and the kernels it builds. Every backend is one such provider,
 * listed once in the registry (index.ts); the server, the CLI, /healthz, the
 * API's schemas and the configuration read the registry, so that adding a
 * backend touches none of them (as tfjs-core registers backends by name, and
 * Brian2 picks a device).
 */
import type { TSchema } from '@sinclair/typebox';
import type { KernelFactory } from './kernel.js';

/** A setting a backend reads when it starts: an environment variable, checked with the host's others. */
export interface BackendSetting {
  readonly env: string;
  readonly default: string;
  /** The values it accepts, the default among them. */
  readonly values: readonly string[];
  /** For docs/configuration.md and the configuration's checks. */
  readonly doc: string;
}

/** Backend settings by variable name, as the host read them (absent or empty: the default). */
export type BackendSettings = Readonly<Record<string, string | undefined>>;

export interface BackendProvider {
  readonly name: string;
  /** What it is, in a few words: for the API's description and the CLI's help. */
  readonly summary: string;
  readonly settings: readonly BackendSetting[];
  /**
   * Starts the backend; resolves to a line for the start-up log, or null
   * when there is nothing to say. Networks are created on it only once this
   * has resolved (tfjs loads its platform asynchronously, while
   * Network.create is synchronous). Idempotent. Rejects with
   * BACKEND_UNAVAILABLE when it cannot run here; the rest of the engine runs.
   */
  init(settings: BackendSettings): Promise<string | null>;
  /** Present for a backend with a state worth reporting: /healthz publishes info() under the backend's name, described by infoSchema. Never throws. */
  readonly report?: { readonly schema: TSchema; info(): unknown };
  /** Builds a network's kernel; throws BACKEND_UNAVAILABLE when init has not succeeded. */
  readonly create: KernelFactory;
}
