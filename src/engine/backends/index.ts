/**
 * The backends a network can run on: the one place they are listed
 * (provider.ts says what each provides). The first is the default.
 */
import type { TSchema } from '@sinclair/typebox';
import { SpikeserveError } from '../../errors.js';
import { nativeBackend } from './native/provider.js';
import type { BackendProvider, BackendSetting, BackendSettings } from './provider.js';
import { tfjsBackend } from './tfjs/provider.js';

export const BACKEND_PROVIDERS = [nativeBackend, tfjsBackend] as const satisfies readonly BackendProvider[];
export type BackendName = (typeof BACKEND_PROVIDERS)[number]['name'];
export const BACKEND_NAMES: readonly BackendName[] = BACKEND_PROVIDERS.map((p) => p.name);
export const DEFAULT_BACKEND: BackendName = BACKEND_PROVIDERS[0].name;

const BY_NAME: ReadonlyMap<string, BackendProvider> = new Map(BACKEND_PROVIDERS.map((p) => [p.name, p]));

/** The provider of a backend, or a SPEC_INVALID naming the ones there are. */
export function backendProvider(name: string): BackendProvider {
  const p = BY_NAME.get(name);
  if (p === undefined) {
    throw new SpikeserveError('SPEC_INVALID', `backend: unknown backend "${name}"; available: ${BACKEND_NAMES.join(', ')}`, { field: 'backend' });
  }
  return p;
}

/** Every backend's settings, for the host's configuration. */
export const BACKEND_SETTINGS: readonly BackendSetting[] = BACKEND_PROVIDERS.flatMap((p): readonly BackendSetting[] => p.settings);

/** How one backend's start went. */
export interface BackendStart {
  name: BackendName;
  ok: boolean;
  /** The backend's line for the start-up log (null: nothing to say), or why it did not start. */
  message: string | null;
  /** Why it did not start (BACKEND_UNAVAILABLE, as a rule). */
  error?: unknown;
}

/**
 * Starts the named backends (all by default), each on its own: one that
 * cannot run here is reported, and networks on it are refused with
 * BACKEND_UNAVAILABLE, while the others run.
 */
export async function startBackends(settings: BackendSettings, names: readonly BackendName[] = BACKEND_NAMES): Promise<BackendStart[]> {
  const out: BackendStart[] = [];
  for (const name of names) {
    try {
      out.push({ name, ok: true, message: await backendProvider(name).init(settings) });
    } catch (e) {
      out.push({ name, ok: false, message: (e as Error).message, error: e });
    }
  }
  return out;
}

/** What each backend that reports its state says now, by name (for /healthz). */
export function backendReports(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of BACKEND_PROVIDERS as readonly BackendProvider[]) if (p.report) out[p.name] = p.report.info();
  return out;
}

/** The schemas of backendReports(), by name. */
export const BACKEND_REPORT_SCHEMAS: Record<string, TSchema> = Object.fromEntries(
  (BACKEND_PROVIDERS as readonly BackendProvider[]).flatMap((p) => (p.report ? [[p.name, p.report.schema]] : [])),
);
