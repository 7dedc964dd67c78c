/** The backends a network can run on, by name. */
import type { KernelFactory } from './kernel.js';
import { createNativeKernel } from './native/kernel.js';

export const BACKENDS = { native: createNativeKernel } satisfies Record<string, KernelFactory>;
export type BackendName = keyof typeof BACKENDS;
export const BACKEND_NAMES = Object.keys(BACKENDS) as BackendName[];
