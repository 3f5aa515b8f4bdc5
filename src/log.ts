import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Log event codes. Every line a component writes about a message carries one of these in `evt`, so
 * operators can search and alert on them. docs/LOGGING.md describes each.
 */
export const EVT = {
  STARTED: 'MK001',
  STOPPING: 'MK002',
  CONFIG_WARNING: 'MK003',
  ROLE_EXITED: 'MK004',
  ROLE_FAILED: 'MK005',
  SMTP_ACCEPTED: 'MK101',
  SMTP_REFUSED: 'MK102',
  SMTP_TEMPFAIL: 'MK103',
  SMTP_CONNECT_DENIED: 'MK104',
  SMTP_TOO_SLOW: 'MK105',
  HTTP_ACCEPTED: 'MK111',
  HTTP_CONN_REFUSED: 'MK112',
  HTTP_CAP_LOWERED: 'MK113',
  HTTP_REFUSED: 'MK114',
  SANITIZE_DONE: 'MK201',
  SANITIZE_PART: 'MK202',
  SANITIZE_FAILED: 'MK203',
  SANITIZE_CRASHED: 'MK204',
  RENDERER_KILLED: 'MK210',
  SANDBOX_MODE: 'MK211',
  DELIVERED: 'MK301',
  DELIVERY_DEFERRED: 'MK302',
  DELIVERY_FAILED: 'MK303',
  POSTMASTER_NOTICE: 'MK304',
  POSTMASTER_NOTICE_FAILED: 'MK305',
  RELAY_DOWN: 'MK306',
  RELAY_BACK: 'MK307',
  REDELIVER: 'MK308',
  UNLOCK_ATTEMPT: 'MK401',
  REDIS_CHILD: 'MK501',
} as const;

/** Never logged, wherever they appear in a log object. */
const REDACT = [
  'password', '*.password', '*.*.password', 'token', '*.token', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'req.headers.cookie', 'cookie', '*.cookie',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const opts: LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(opts, destination as unknown as pino.DestinationStream) : pino(opts);
}

/** A logger that drops everything: for offline tools and tests that assert on outputs instead. */
export const silentLogger: Logger = pino({ level: 'silent' });
