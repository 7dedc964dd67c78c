/** The backends a network can run on, by name. */
import type { KernelFactory } from './kernel.js';
import { createNativeKernel } from './native/kernel.js';
import { createTfjsKernel } from './tfjs/platform.js';

/** 'tfjs' needs `await initTfjs()` once per process before use (see tfjs/platform.ts). */
export const BACKENDS = { native: createNativeKernel, tfjs: createTfjsKernel } satisfies Record<string, KernelFactory>;
export type BackendName = keyof typeof BACKENDS;
export const BACKEND_NAMES = Object.keys(BACKENDS) as BackendName[];
