/** Every golden case on the tfjs backend, on the platform the host would choose (TFJS_BACKEND forces one). */
import { goldenOnTfjs } from './helpers/tfjs-golden.js';

goldenOnTfjs(process.env.TFJS_BACKEND || undefined);
