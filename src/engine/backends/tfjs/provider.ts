/** The 'tfjs' backend's entry in the registry: TensorFlow.js, started once per process (platform.ts). */
import type { BackendProvider } from '../provider.js';
import { TFJS_PLATFORMS, TfjsInfoSchema, createTfjsKernel, initTfjs, tfjsInfo } from './platform.js';

const SETTING = 'TFJS_BACKEND';

export const tfjsBackend = {
  name: 'tfjs',
  summary: 'TensorFlow.js tensors, float32, the dense transcription of the model',
  settings: [
    {
      env: SETTING,
      default: 'auto',
      values: ['auto', ...TFJS_PLATFORMS],
      doc: 'Platform of the "tfjs" session backend: auto tries node (@tensorflow/tfjs-node, when installed), then wasm, then cpu; naming one forces it. If none starts, tfjs sessions get 503 BACKEND_UNAVAILABLE and native ones run as usual.',
    },
  ],
  async init(settings) {
    const info = await initTfjs({ prefer: settings[SETTING] });
    return `tfjs backend runs on the ${info.platform} platform`;
  },
  report: { schema: TfjsInfoSchema, info: tfjsInfo },
  create: createTfjsKernel,
} as const satisfies BackendProvider;
