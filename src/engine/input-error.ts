import { SpikeserveError } from '../errors.js';

/** INPUT_INVALID naming the field of a step's inputs or rewards. */
export function inputError(field: string, message: string): SpikeserveError {
  return new SpikeserveError('INPUT_INVALID', `${field}: ${message}`, { field });
}
