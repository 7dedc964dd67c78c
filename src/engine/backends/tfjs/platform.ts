/**
 * The TensorFlow.js runtime behind the 'tfjs' backend.
 *
 * tfjs is one engine per process (tf.setBackend is global), and starting a
 * platform is asynchronous, while Network.create is synchronous. So the host
 * starts tfjs once, at startup, with `await initTfjs()`; until then (or if no
 * platform could start) creating a network on 'tfjs' fails with
 * BACKEND_UNAVAILABLE. The platform is chosen once: @tensorflow/tfjs-node when
 * it is installed (an optional dependency), else the wasm platform, else the
 * pure-JavaScript cpu one; `prefer` (the host passes TFJS_BACKEND) forces one.
 *
 * Nothing of tfjs is loaded until initTfjs runs, so a process that only uses
 * the native backend never pays for it.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { SpikeserveError } from '../../../errors.js';
import type { ResolvedNetwork } from '../../spec-schema.js';
import type { ExternalInputs, Kernel, KernelFactory } from '../kernel.js';

/** The tfjs platforms, in the order they are tried. */
export const TFJS_PLATFORMS = ['node', 'wasm', 'cpu'] as const;
export type TfjsPlatform = (typeof TFJS_PLATFORMS)[number];

/** tfjs's own name for each platform's backend. */
const TF_BACKEND_NAME: Record<TfjsPlatform, string> = { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };

/** Held in a variable so TypeScript does not look for its types: it is optional and usually absent. */
const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node';

export interface TfjsInitOptions {
  /** 'node', 'wasm' or 'cpu' to force a platform (no fallback); empty, 'auto' or absent to choose. */
  prefer?: string | null;
}

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** What runs behind 'tfjs'; /healthz and the startup log publish it. */
export const TfjsInfoSchema = Type.Object(
  {
    ready: Type.Boolean({ description: 'True once a platform runs and sessions can be created on "tfjs".' }),
    platform: Nullable(Type.Union(TFJS_PLATFORMS.map((p) => Type.Literal(p)), { description: 'The platform that runs: node (tfjs-node), wasm or cpu.' })),
    tfBackend: Nullable(Type.String({ description: "tfjs's name for that platform's backend: tensorflow, wasm or cpu." })),
    selection: Nullable(Type.Union([Type.Literal('auto'), Type.Literal('forced')], { description: 'forced when TFJS_BACKEND named the platform.' })),
    version: Nullable(Type.String({ description: "@tensorflow/tfjs-core's version, once loaded." })),
    unavailable: Type.Array(
      Type.Object({ platform: Type.Union(TFJS_PLATFORMS.map((p) => Type.Literal(p))), reason: Type.String() }, { additionalProperties: false }),
      { description: 'Platforms that were tried and did not start, with the reason.' },
    ),
    error: Nullable(Type.String({ description: 'Why tfjs did not start, when it did not.' })),
  },
  { additionalProperties: false, description: 'The TensorFlow.js backend.' },
);
export type TfjsInfo = Static<typeof TfjsInfoSchema>;

interface Runtime {
  create: KernelFactory;
  info: TfjsInfo;
}

// Process-wide by necessity: it mirrors tfjs's own global engine. Networks
// never share state through it; each owns its tensors.
let runtime: Runtime | null = null;
let starting: Promise<TfjsInfo> | null = null;
let lastInfo: TfjsInfo = { ready: false, platform: null, tfBackend: null, selection: null, version: null, unavailable: [], error: null };

function unavailable(message: string, details?: Record<string, unknown>): SpikeserveError {
  return new SpikeserveError('BACKEND_UNAVAILABLE', message, details);
}

function parsePreference(prefer: string | null | undefined): TfjsPlatform | null {
  if (prefer === undefined || prefer === null) return null;
  const p = prefer.trim().toLowerCase();
  if (p === '' || p === 'auto') return null;
  if (p === 'tensorflow') return 'node'; // tfjs-node's own backend name
  if ((TFJS_PLATFORMS as readonly string[]).includes(p)) return p as TfjsPlatform;
  throw unavailable(`TFJS_BACKEND: "${prefer}" is not a tfjs platform; use ${TFJS_PLATFORMS.join(', ')} or auto`, { field: 'TFJS_BACKEND' });
}

function reasonOf(e: unknown): string {
  const err = e as { code?: string; message?: string };
  if (err && (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND')) return 'not installed';
  const msg = err?.message ?? String(e);
  return msg.split('\n')[0].trim();
}

/** Loads a platform's package (which registers its backend with tfjs-core). */
async function loadPlatform(platform: TfjsPlatform): Promise<void> {
  switch (platform) {
    case 'node':
      await import(TFJS_NODE_PACKAGE);
      return;
    case 'wasm':
      // In Node the package finds its .wasm binaries next to its own script,
      // wherever the importing code lives: no setWasmPaths needed.
      await import('@tensorflow/tfjs-backend-wasm');
      return;
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return;
  }
}

async function start(forced: TfjsPlatform | null): Promise<TfjsInfo> {
  const tf = await import('@tensorflow/tfjs-core');
  // Prod mode silences tfjs's console banners (the host logs which platform
  // runs) and skips debug-only checks.
  tf.enableProdMode();
  const tried: TfjsInfo['unavailable'] = [];
  for (const platform of forced ? [forced] : TFJS_PLATFORMS) {
    try {
      await loadPlatform(platform);
      const name = TF_BACKEND_NAME[platform];
      if (!(await tf.setBackend(name))) throw new Error(`tfjs could not initialise its "${name}" backend`);
      await tf.ready();
      const three = tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)).dataSync()[0]);
      if (three !== 3) throw new Error(`the "${name}" backend computed 1 + 2 = ${three}`);
    } catch (e) {
      tried.push({ platform, reason: reasonOf(e) });
      continue;
    }
    const { createTfjsKernel } = await import('./kernel.js');
    const info: TfjsInfo = {
      ready: true,
      platform,
      tfBackend: tf.getBackend(),
      selection: forced ? 'forced' : 'auto',
      version: tf.version_core,
      unavailable: tried,
      error: null,
    };
    runtime = { create: createTfjsKernel, info };
    lastInfo = info;
    return { ...info, unavailable: [...tried] };
  }
  const why = tried.map((t) => `${t.platform}: ${t.reason}`).join('; ');
  const error = forced ? `the tfjs platform "${forced}" (forced by TFJS_BACKEND) did not start: ${why}` : `no tfjs platform started (${why})`;
  lastInfo = { ready: false, platform: null, tfBackend: null, selection: forced ? 'forced' : 'auto', version: tf.version_core, unavailable: tried, error };
  throw unavailable(error, { unavailable: tried });
}

/**
 * Starts TensorFlow.js for the 'tfjs' backend and returns what runs. Call it
 * once at startup, before creating networks on 'tfjs'. Idempotent: later calls
 * return the running platform; forcing a different one than runs is refused,
 * since tfjs runs one platform per process. Throws BACKEND_UNAVAILABLE when no
 * platform starts, or the forced one does not (tfjsInfo() then says why).
 */
export async function initTfjs(options: TfjsInitOptions = {}): Promise<TfjsInfo> {
  const forced = parsePreference(options.prefer);
  if (runtime) {
    if (forced && forced !== runtime.info.platform) {
      throw unavailable(`tfjs already runs on the "${runtime.info.platform}" platform; it cannot switch to "${forced}" within a process`, {
        platform: runtime.info.platform,
      });
    }
    return tfjsInfo();
  }
  if (!starting) {
    starting = start(forced).finally(() => {
      starting = null;
    });
  }
  await starting;
  return initTfjs(options);
}

/** What the tfjs backend runs on, for health checks and the startup log. Never throws. */
export function tfjsInfo(): TfjsInfo {
  return { ...lastInfo, unavailable: lastInfo.unavailable.map((u) => ({ ...u })) };
}

/** The 'tfjs' entry of the backend registry. */
export function createTfjsKernel(spec: ResolvedNetwork, external: ExternalInputs): Kernel {
  if (!runtime) {
    const why = lastInfo.error ? `TensorFlow.js did not start on this host: ${lastInfo.error}` : 'TensorFlow.js has not been initialised (the host must call initTfjs() at startup)';
    throw unavailable(`backend: "tfjs" is not available: ${why}; use the "native" backend`, { field: 'backend', backend: 'tfjs' });
  }
  return runtime.create(spec, external);
}
