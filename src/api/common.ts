/**
 * Schemas every resource shares: the one error shape, path parameters, and
 * `ref()`, which points at a schema registered once with the app (so
 * openapi.yaml names it in components instead of repeating it).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';

/** A reference to a shared schema (one with an $id), typed as that schema. */
export function ref<T extends TSchema>(schema: T, options: { description?: string } = {}) {
  if (!schema.$id) throw new Error('ref() needs a schema with an $id');
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id, options));
}

const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

const errorTable = ERROR_CODES.map((c) => `- \`${c}\` (${ERROR_CATALOGUE[c].status}): ${ERROR_CATALOGUE[c].description}`).join('\n');

export const ErrorResponseSchema = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.Unsafe<ErrorCode>({ type: 'string', enum: ERROR_CODES, description: 'A stable code from the catalogue below.' }),
        message: Type.String({ description: 'What went wrong and what to fix, naming the field where there is one.' }),
        details: Type.Optional(
          Type.Record(Type.String(), Type.Unknown(), {
            description: 'Machine-readable context where there is some: `field`, `limit`, `value`, `max`, `requestId`, ...',
          }),
        ),
      },
      { additionalProperties: false },
    ),
  },
  {
    $id: 'ErrorResponse',
    additionalProperties: false,
    description: `Every failure has this shape. Codes and their HTTP status:\n\n${errorTable}`,
  },
);
export type ErrorResponse = Static<typeof ErrorResponseSchema>;

/** One outcome of many operations run together, as Promise.allSettled gives them: the result, or the error that operation alone got. */
export function settled<T extends TSchema>(result: T) {
  return Type.Union([
    Type.Object({ ok: Type.Literal(true), result }, { additionalProperties: false }),
    Type.Object({ ok: Type.Literal(false), error: ErrorResponseSchema.properties.error }, { additionalProperties: false }),
  ]);
}

export const SessionParamsSchema = Type.Object(
  { id: Type.String({ description: 'The session id returned by POST /v1/sessions.' }) },
  { additionalProperties: false },
);
export type SessionParams = Static<typeof SessionParamsSchema>;

export const ConnectionParamsSchema = Type.Object(
  {
    id: Type.String({ description: 'The session id returned by POST /v1/sessions.' }),
    connection: Type.String({ description: 'A connection name from the session\'s network.' }),
  },
  { additionalProperties: false },
);
export type ConnectionParams = Static<typeof ConnectionParamsSchema>;

export const WeightMatrixSchema = Type.Array(Type.Array(Type.Number()), {
  description: 'Weights as [pre.n][post.n]: row i holds the synapses from pre neuron i.',
});
