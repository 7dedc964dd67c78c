/** Schemas of POST /v1/batch/step: many sessions stepped in one request, a result or an error per item. */
import { Type, type Static } from '@sinclair/typebox';
import { settled } from './common.js';
import { StepBodySchema, StepResultSchema } from './step.js';

export const BatchStepItemSchema = Type.Object(
  {
    id: Type.String({ description: 'The session to step.' }),
    ...StepBodySchema.properties,
  },
  { additionalProperties: false, description: 'One session\'s step: its id and the fields of POST /v1/sessions/{id}/step.' },
);
export type BatchStepItem = Static<typeof BatchStepItemSchema>;

export const BatchStepBodySchema = Type.Object(
  {
    items: Type.Array(BatchStepItemSchema, {
      description: 'The steps to run, at most MAX_BATCH_ITEMS. Items of one session run in their order; different sessions run concurrently.',
    }),
  },
  { additionalProperties: false },
);
export type BatchStepBody = Static<typeof BatchStepBodySchema>;

export const BatchStepOutcomeSchema = settled(StepResultSchema);
export type BatchStepOutcome = Static<typeof BatchStepOutcomeSchema>;

export const BatchStepResultSchema = Type.Object(
  {
    results: Type.Array(BatchStepOutcomeSchema, {
      description: 'One per item, in the order of items: {ok: true, result} with the step reply, or {ok: false, error} with the error that item alone got.',
    }),
  },
  { additionalProperties: false },
);
export type BatchStepResult = Static<typeof BatchStepResultSchema>;
