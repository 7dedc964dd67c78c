/** The 'native' backend's entry in the registry: nothing to start or report. */
import type { BackendProvider } from '../provider.js';
import { createNativeKernel } from './kernel.js';

export const nativeBackend = {
  name: 'native',
  summary: 'default; typed arrays, work in proportion to spikes',
  settings: [],
  init: () => Promise.resolve(null),
  create: createNativeKernel,
} as const satisfies BackendProvider;
