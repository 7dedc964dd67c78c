/** POST /v1/sessions/{id}/ws-ticket: a one-use ticket to open the session's WebSocket where no header can be set (a browser). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SessionParamsSchema, type SessionParams } from '../src/api/common.js';
import { API_ERRORS, CHANGE_ERRORS, described, errorResponses, SESSION_ERRORS } from '../src/http/responses.js';
import type { TicketBook } from '../src/security/tickets.js';
import type { SessionManager } from '../src/sessions/manager.js';

const TicketSchema = Type.Object(
  {
    ticket: Type.String({ description: 'Present it as ?ticket=... on the WebSocket URL. Good for one connection.' }),
    url: Type.String({ description: 'The WebSocket path with the ticket in place.' }),
    expiresAt: Type.String({ description: 'When it stops being valid (ISO 8601).' }),
    expiresInSeconds: Type.Number({ description: 'WS_TICKET_TTL_S.' }),
  },
  { additionalProperties: false },
);

export default async function ticketRoutes(app: FastifyInstance, { sessions, tickets }: { sessions: SessionManager; tickets: TicketBook }): Promise<void> {
  app.post<{ Params: SessionParams }>(
    '/sessions/:id/ws-ticket',
    {
      schema: {
        tags: ['sessions'],
        summary: 'A ticket to open this session\'s WebSocket from a browser',
        description:
          'Browsers cannot set an Authorization header on a WebSocket. Ask for a ticket here (with your API key), then open /v1/sessions/{id}/ws?ticket=... within its lifetime (WS_TICKET_TTL_S); it is good for one connection to this session, and acts for the key that asked for it. Without API_KEYS tickets are not needed, but work. No body.',
        params: SessionParamsSchema,
        response: { 201: described(TicketSchema, 'A new ticket.'), ...errorResponses(...CHANGE_ERRORS, ...SESSION_ERRORS, ...API_ERRORS) },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      // A request like any other: a session on disk only is loaded.
      await sessions.open(id, request.owner);
      const { ticket, expiresAt } = tickets.issue(id, request.owner ?? null);
      reply.code(201);
      return {
        ticket,
        url: `/v1/sessions/${encodeURIComponent(id)}/ws?ticket=${ticket}`,
        expiresAt: new Date(expiresAt).toISOString(),
        expiresInSeconds: Math.round((expiresAt - Date.now()) / 1000),
      };
    },
  );
}
