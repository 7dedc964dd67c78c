/**
 * The one error the client throws for anything the server refused: the
 * server's code and message (the catalogue of src/errors.ts), its HTTP status
 * when it came over REST, its close code when a socket was closed.
 */
export class SpikeserveClientError extends Error {
  /** A catalogue code (INPUT_INVALID, SESSION_NOT_FOUND, ...), or CONNECTION_CLOSED when a socket closed with requests unanswered. */
  readonly code: string;
  readonly status?: number;
  readonly closeCode?: number;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, extra: { status?: number; closeCode?: number; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'SpikeserveClientError';
    this.code = code;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.closeCode !== undefined) this.closeCode = extra.closeCode;
    if (extra.details !== undefined) this.details = extra.details;
  }
}
