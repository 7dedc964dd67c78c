/**
 * The close codes the server sends, each documented in docs/websocket.md, "Close codes".
 * The server's own codes are 4000 + the HTTP status of the error code that
 * says why, and that error code starts the close reason ("WS_CONTROLLER_TAKEN:
 * ..."), so a client reads the cause from either. The 1000s are the
 * standard's, sent by ws itself for broken frames.
 */
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';

export const CLOSE = {
  /** Either side closed on purpose. */
  NORMAL: 1000,
  /** The server is shutting down. */
  GOING_AWAY: 1001,
  /** A broken frame: bad opcode, unmasked client frame, bad control frame (sent by ws). */
  PROTOCOL_ERROR: 1002,
  /** A text message that is not valid UTF-8 (sent by ws). */
  INVALID_PAYLOAD: 1007,
  /** A message or frame larger than WS_MAX_PAYLOAD_BYTES (sent by ws). */
  MESSAGE_TOO_BIG: 1009,
  /** A bug in the server. */
  INTERNAL_ERROR: 1011,
} as const;

/** The close code for a refusal or disconnection with this error code. */
export function closeCodeFor(code: ErrorCode): number {
  if (code === 'SHUTTING_DOWN') return CLOSE.GOING_AWAY;
  if (code === 'INTERNAL_ERROR') return CLOSE.INTERNAL_ERROR;
  return 4000 + ERROR_CATALOGUE[code].status;
}

/** Every close code a client can see: when, and the error code that starts the reason (the AsyncAPI description lists them). */
export const CLOSE_CODE_TABLE: readonly { code: number; when: string; reason?: ErrorCode }[] = [
  { code: CLOSE.NORMAL, when: 'either side closed on purpose' },
  { code: CLOSE.GOING_AWAY, when: 'the server is shutting down, or (in a cluster) the session is moving to another node: the replies to what it had read went out first; connect again', reason: 'SHUTTING_DOWN' },
  { code: CLOSE.PROTOCOL_ERROR, when: 'a broken frame (unmasked, bad opcode, bad control frame)' },
  { code: 1006, when: '(no close frame) the server cut a peer that did not answer its ping, or one that stopped reading' },
  { code: CLOSE.INVALID_PAYLOAD, when: 'a text message that is not valid UTF-8' },
  { code: CLOSE.MESSAGE_TOO_BIG, when: 'a message larger than WS_MAX_PAYLOAD_BYTES' },
  { code: CLOSE.INTERNAL_ERROR, when: 'a bug in the server (the log has it)', reason: 'INTERNAL_ERROR' },
  ...(
    [
      ['REQUEST_INVALID', 'refused at connect: a bad role, format or query parameter'],
      ['UNAUTHORIZED', 'refused at connect: no API key, a wrong one, or an unknown, expired, used or other-session ticket'],
      ['ORIGIN_NOT_ALLOWED', 'refused at connect: a browser page from an origin neither the server\'s own (scheme, host and port) nor in CORS_ORIGINS'],
      ['HOST_NOT_ALLOWED', 'refused at connect: the Host header names the server by a name it does not answer to (loopback names and ALLOWED_HOSTS; against DNS rebinding)'],
      ['SESSION_NOT_FOUND', 'the session is unknown, or was deleted or evicted after being idle; commands still queued got SESSION_NOT_FOUND replies first'],
      ['WS_CONTROLLER_TAKEN', 'refused at connect: the session already has a controller'],
      ['WS_BUFFER_EXCEEDED', 'the peer stopped reading: more than WS_MAX_BUFFERED_BYTES waited for it (then it is cut shortly after)'],
      ['LIMIT_EXCEEDED', 'refused at connect: the session has its WS_MAX_OBSERVERS observers'],
    ] as const
  ).map(([reason, when]) => ({ code: closeCodeFor(reason), when, reason })),
];

/** "CODE: message", cut at a word to fit the 123 bytes of UTF-8 a close reason may hold (the error message before it has it whole). */
export function closeReason(code: ErrorCode, message: string): string {
  const full = `${code}: ${message}`;
  if (Buffer.byteLength(full) <= 123) return full;
  let s = full.slice(0, 120);
  while (Buffer.byteLength(s) > 120) s = s.slice(0, -1);
  const space = s.lastIndexOf(' ');
  if (space > code.length + 1) s = s.slice(0, space);
  return s + '...';
}
