/**
 * The error catalogue: one stable code per failure, with what each edge answers. Throw `MukaikaError`
 * with a code; map it once at the edges (SMTP reply, HTTP response, BullMQ UnrecoverableError).
 * Only codes cross process boundaries; rebuild the error from the code on the other side.
 */
export interface ErrorSpec {
  message: string;
  /**
   * Full SMTP reply (code, enhanced status, text), only for errors that can reach the SMTP edge. HTTP-only
   * (unlock, API) and job-only (delivery, records) errors have none: `smtpReplyOf` answers 451 4.3.0 for them.
   */
  smtp?: string;
  http: number;
  /** Whether trying the same thing again later can succeed. Decided here, where the error is defined. */
  retryable: boolean;
}

export const ERRORS = {
  INTERNAL: { message: 'internal error', smtp: '451 4.3.0 Internal error, try again later', http: 500, retryable: true },
  QUEUE_UNAVAILABLE: { message: 'queue unavailable', smtp: '451 4.3.0 Queue unavailable, try again later', http: 503, retryable: true },
  STORAGE_ERROR: { message: 'storage error', smtp: '451 4.3.0 Storage error, try again later', http: 503, retryable: true },
  DATABASE_UNAVAILABLE: { message: 'database unavailable', smtp: '451 4.3.0 Database unavailable, try again later', http: 503, retryable: true },
  INSUFFICIENT_STORAGE: { message: 'insufficient storage', smtp: '452 4.3.1 Insufficient system storage', http: 507, retryable: true },
  SHUTTING_DOWN: { message: 'shutting down', smtp: '421 4.3.2 Service shutting down', http: 503, retryable: true },
  TOO_MANY_CONNECTIONS: { message: 'too many connections', smtp: '421 4.3.2 Too many connections', http: 503, retryable: true },
  TOO_SLOW: { message: 'peer too slow', smtp: '421 4.4.2 Too slow, closing connection', http: 408, retryable: true },
  MESSAGE_TOO_LARGE: { message: 'message too large', smtp: '552 5.3.4 Message too large', http: 413, retryable: false },
  RELAY_DENIED: { message: 'relay denied', smtp: '550 5.7.1 Relaying denied', http: 403, retryable: false },
  PEER_NOT_ALLOWED: { message: 'peer not allowed', smtp: '554 5.7.1 Access denied', http: 403, retryable: false },
  TOO_MANY_RECIPIENTS: { message: 'too many recipients', smtp: '452 4.5.3 Too many recipients', http: 400, retryable: true },
  BAD_SYNTAX: { message: 'bad syntax', smtp: '501 5.5.4 Syntax error in parameters', http: 400, retryable: false },
  // RFC 5321 §4.1.1.3 / RFC 3463 X.1.3 and X.1.7: a mailbox that is not strict RFC 5321 syntax (domain/mailbox.ts).
  BAD_RECIPIENT_ADDRESS: { message: 'bad recipient address syntax', smtp: '501 5.1.3 Bad recipient address syntax', http: 400, retryable: false },
  BAD_SENDER_ADDRESS: { message: 'bad sender address syntax', smtp: '501 5.1.7 Bad sender address syntax', http: 400, retryable: false },
  UNAUTHORIZED: { message: 'authentication required', http: 401, retryable: false },
  FORBIDDEN: { message: 'forbidden', http: 403, retryable: false },
  NOT_FOUND: { message: 'not found', http: 404, retryable: false },
  BAD_REQUEST: { message: 'bad request', http: 400, retryable: false },
  CONFIG_INVALID: { message: 'invalid configuration', http: 500, retryable: true },
  DELIVERY_DEFERRED: { message: 'delivery deferred', http: 503, retryable: true },
  DELIVERY_FAILED: { message: 'delivery failed', http: 502, retryable: false },
  RECORD_NOT_READY: { message: 'record not yet visible', http: 503, retryable: true },
  PASSWORD_ATTEMPTS_EXCEEDED: { message: 'too many wrong passwords', http: 429, retryable: false },
  WRONG_PASSWORD: { message: 'wrong password', http: 422, retryable: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class MukaikaError extends Error {
  readonly code: ErrorCode;
  readonly spec: ErrorSpec;
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? ERRORS[code].message, options);
    this.name = 'MukaikaError';
    this.code = code;
    this.spec = ERRORS[code];
  }
  get retryable(): boolean {
    return this.spec.retryable;
  }
}

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && Object.hasOwn(ERRORS, v);
}

/** The database's own "disk full": SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100). */
function isDatabaseFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === '53100';
}

/** Any thrown value as a catalogue error; unknown failures are INTERNAL (retryable), never a pass. */
export function toMukaikaError(err: unknown): MukaikaError {
  if (err instanceof MukaikaError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) return new MukaikaError(code, (err as Error).message, { cause: err });
  if (code === 'ENOSPC' || code === 'EDQUOT' || isDatabaseFull(err)) return new MukaikaError('INSUFFICIENT_STORAGE', String(code), { cause: err });
  return new MukaikaError('INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
}

/**
 * `{ responseCode, message }` for smtp-server callbacks: the reply text without the numeric code. A code
 * without an SMTP reply is not meant to reach SMTP; if it does (a bug), the peer gets INTERNAL's 451 4.3.0 and
 * keeps the mail to try again, never a made-up 5xx.
 */
export function smtpReplyOf(err: MukaikaError): { responseCode: number; text: string } {
  const [code, ...rest] = (err.spec.smtp ?? ERRORS.INTERNAL.smtp).split(' ');
  return { responseCode: Number(code), text: rest.join(' ') };
}
