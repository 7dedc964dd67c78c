/**
 * The error responses a route declares, grouped by status, each documented
 * with the codes it may carry. Declaring them also makes fastify serialize
 * error bodies with the ErrorResponse schema.
 */
import type { TSchema } from '@sinclair/typebox';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';
import { ErrorResponseSchema, ref } from '../api/common.js';

/** Every route may fail these ways, whatever it does. */
const ALWAYS: ErrorCode[] = ['INTERNAL_ERROR', 'SHUTTING_DOWN', 'HOST_NOT_ALLOWED'];

export function errorResponses(...codes: ErrorCode[]): Record<string, ReturnType<typeof ref>> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of [...codes, ...ALWAYS]) {
    const status = ERROR_CATALOGUE[code].status;
    const list = byStatus.get(status) ?? [];
    if (!list.includes(code)) list.push(code);
    byStatus.set(status, list);
  }
  const out: Record<string, ReturnType<typeof ref>> = {};
  for (const [status, list] of [...byStatus.entries()].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = ref(ErrorResponseSchema, { description: list.map((c) => `${c}: ${ERROR_CATALOGUE[c].description}`).join('\n\n') });
  }
  return out;
}

/** Codes any /v1 request can get before its route runs: no valid API key. */
export const API_ERRORS: ErrorCode[] = ['UNAUTHORIZED'];

/** Codes any request that changes something (POST, PUT, DELETE) can get before its route runs: a page of another origin sent it. */
export const CHANGE_ERRORS: ErrorCode[] = ['ORIGIN_NOT_ALLOWED'];

/**
 * Codes any request to one session can get before it runs: no such session,
 * or one on disk that cannot be loaded now (its backend does not run here, no
 * room in memory, its data unreadable).
 */
export const SESSION_ERRORS: ErrorCode[] = ['SESSION_NOT_FOUND', 'BACKEND_UNAVAILABLE', 'OVERLOADED', 'PERSISTENCE_FAILED', 'SESSION_UNAVAILABLE'];

/** Codes any request with a body can get before its route runs. */
export const BODY_ERRORS: ErrorCode[] = ['REQUEST_INVALID', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];

/** A response schema with the description openapi.yaml shows for it (for schemas without an $id; use ref() for those). */
export function described<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, description };
}
