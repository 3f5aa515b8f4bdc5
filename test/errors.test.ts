import { describe, expect, it } from 'vitest';
import { ERRORS, MukaikaError, smtpReplyOf, toMukaikaError } from '../src/errors.js';

describe('error catalogue', () => {
  it('is pinned: codes, SMTP replies, HTTP statuses and retryability are a stable interface', () => {
    const table = Object.fromEntries(Object.entries(ERRORS).map(([k, v]: [string, { smtp?: string; http: number; retryable: boolean }]) => [k, `${v.smtp ?? '(no SMTP)'} | ${v.http} | ${v.retryable}`]));
    expect(table).toMatchInlineSnapshot(`
      {
        "BAD_RECIPIENT_ADDRESS": "501 5.1.3 Bad recipient address syntax | 400 | false",
        "BAD_REQUEST": "(no SMTP) | 400 | false",
        "BAD_SENDER_ADDRESS": "501 5.1.7 Bad sender address syntax | 400 | false",
        "BAD_SYNTAX": "501 5.5.4 Syntax error in parameters | 400 | false",
        "CONFIG_INVALID": "(no SMTP) | 500 | true",
        "DATABASE_UNAVAILABLE": "451 4.3.0 Database unavailable, try again later | 503 | true",
        "DELIVERY_DEFERRED": "(no SMTP) | 503 | true",
        "DELIVERY_FAILED": "(no SMTP) | 502 | false",
        "FORBIDDEN": "(no SMTP) | 403 | false",
        "INSUFFICIENT_STORAGE": "452 4.3.1 Insufficient system storage | 507 | true",
        "INTERNAL": "451 4.3.0 Internal error, try again later | 500 | true",
        "MESSAGE_TOO_LARGE": "552 5.3.4 Message too large | 413 | false",
        "NOT_FOUND": "(no SMTP) | 404 | false",
        "PASSWORD_ATTEMPTS_EXCEEDED": "(no SMTP) | 429 | false",
        "PEER_NOT_ALLOWED": "554 5.7.1 Access denied | 403 | false",
        "QUEUE_UNAVAILABLE": "451 4.3.0 Queue unavailable, try again later | 503 | true",
        "RECORD_NOT_READY": "(no SMTP) | 503 | true",
        "RELAY_DENIED": "550 5.7.1 Relaying denied | 403 | false",
        "SHUTTING_DOWN": "421 4.3.2 Service shutting down | 503 | true",
        "STORAGE_ERROR": "451 4.3.0 Storage error, try again later | 503 | true",
        "TOO_MANY_CONNECTIONS": "421 4.3.2 Too many connections | 503 | true",
        "TOO_MANY_RECIPIENTS": "452 4.5.3 Too many recipients | 400 | true",
        "TOO_SLOW": "421 4.4.2 Too slow, closing connection | 408 | true",
        "UNAUTHORIZED": "(no SMTP) | 401 | false",
        "WRONG_PASSWORD": "(no SMTP) | 422 | false",
      }
    `);
  });

  it('has SMTP replies whose class matches retryability', () => {
    for (const [code, spec] of Object.entries(ERRORS) as [string, { smtp?: string; retryable: boolean }][]) {
      if (spec.smtp === undefined) continue;
      const cls = spec.smtp[0];
      expect(['4', '5'], code).toContain(cls);
      expect(spec.retryable, code).toBe(cls === '4');
      expect(spec.smtp, code).toMatch(/^\d{3} [45]\.\d{1,3}\.\d{1,3} \S/);
    }
  });

  it('maps unknown failures to INTERNAL (retryable) and disk-full to 452', () => {
    expect(toMukaikaError(new Error('boom')).code).toBe('INTERNAL');
    expect(toMukaikaError(Object.assign(new Error('x'), { code: 'ENOSPC' })).code).toBe('INSUFFICIENT_STORAGE');
    expect(toMukaikaError(Object.assign(new Error('x'), { code: 'RELAY_DENIED' })).code).toBe('RELAY_DENIED');
    expect(smtpReplyOf(new MukaikaError('MESSAGE_TOO_LARGE'))).toEqual({ responseCode: 552, text: '5.3.4 Message too large' });
  });

  it('gives SMTP replies only to errors that can reach the SMTP edge; any other code answers 451 4.3.0', () => {
    const withSmtp = Object.entries(ERRORS).filter(([, v]) => 'smtp' in v).map(([k]) => k).sort();
    expect(withSmtp).toEqual([
      'BAD_RECIPIENT_ADDRESS', 'BAD_SENDER_ADDRESS', 'BAD_SYNTAX', 'DATABASE_UNAVAILABLE', 'INSUFFICIENT_STORAGE', 'INTERNAL',
      'MESSAGE_TOO_LARGE', 'PEER_NOT_ALLOWED', 'QUEUE_UNAVAILABLE', 'RELAY_DENIED', 'SHUTTING_DOWN', 'STORAGE_ERROR',
      'TOO_MANY_CONNECTIONS', 'TOO_MANY_RECIPIENTS', 'TOO_SLOW',
    ]);
    for (const code of ['WRONG_PASSWORD', 'PASSWORD_ATTEMPTS_EXCEEDED', 'DELIVERY_FAILED', 'NOT_FOUND', 'UNAUTHORIZED', 'CONFIG_INVALID'] as const) {
      expect(smtpReplyOf(new MukaikaError(code)), code).toEqual({ responseCode: 451, text: '4.3.0 Internal error, try again later' });
    }
  });
});
