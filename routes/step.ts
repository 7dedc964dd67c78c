/** POST /v1/sessions/{id}/step and /reward: run the network, and complete a deferred update. */
import type { FastifyInstance } from 'fastify';
import { ref, SessionParamsSchema, type SessionParams } from '../src/api/common.js';
import { RewardBodySchema, RewardResultSchema, StepBodySchema, StepResultSchema, type RewardBody, type StepBody } from '../src/api/step.js';
import { API_ERRORS, BODY_ERRORS, CHANGE_ERRORS, described, errorResponses, SESSION_ERRORS } from '../src/http/responses.js';
import type { SessionManager } from '../src/sessions/manager.js';

export default async function stepRoutes(app: FastifyInstance, { sessions }: { sessions: SessionManager }): Promise<void> {
  app.post<{ Params: SessionParams; Body: StepBody }>(
    '/sessions/:id/step',
    {
      schema: {
        tags: ['run'],
        summary: 'Step the network',
        description:
          'Runs `steps` network steps with the given inputs and rewards, and returns each step\'s spikes (or per-neuron counts), optionally the potentials and weights after the last step. Long runs yield to other requests between slices; requests on one session run one at a time, in order. A refused request changes nothing. With deferReward the last step\'s learning update waits for POST .../reward (docs/deferred-reward.md).',
        params: SessionParamsSchema,
        body: StepBodySchema,
        response: {
          200: ref(StepResultSchema, { description: 'The steps ran; what the reply carries follows `return`.' }),
          ...errorResponses(...CHANGE_ERRORS, ...BODY_ERRORS, ...API_ERRORS, 'INPUT_INVALID', ...SESSION_ERRORS, 'LIMIT_EXCEEDED', 'QUOTA_EXCEEDED', 'OVERLOADED', 'PERSISTENCE_FAILED'),
        },
      },
    },
    (request) => sessions.use(request.params.id, (s) => s.step(request.body)),
  );

  app.post<{ Params: SessionParams; Body: RewardBody }>(
    '/sessions/:id/reward',
    {
      schema: {
        tags: ['run'],
        summary: 'Reward the pending step',
        description:
          'Completes the learning update left pending by a step taken with deferReward: the result is exactly that of a step given this reward. 409 REWARD_NOT_PENDING if no step waits for one.',
        params: SessionParamsSchema,
        body: RewardBodySchema,
        response: {
          200: described(RewardResultSchema, 'The pending update is applied.'),
          ...errorResponses(...CHANGE_ERRORS, ...BODY_ERRORS, ...API_ERRORS, 'INPUT_INVALID', ...SESSION_ERRORS, 'REWARD_NOT_PENDING', 'PERSISTENCE_FAILED'),
        },
      },
    },
    (request) => sessions.use(request.params.id, (s) => s.reward(request.body.reward)),
  );
}
