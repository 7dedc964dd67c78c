/** Every golden case on the tfjs backend's pure-JavaScript cpu platform (the fallback when wasm cannot start). */
import { goldenOnTfjs } from './helpers/tfjs-golden.js';

goldenOnTfjs('cpu');
