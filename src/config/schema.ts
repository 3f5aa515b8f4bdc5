import { z } from 'zod';
import { isCidr, isListenHost, isMailDomain } from './net-checks.js';

const port = z.number().int().min(0).max(65535);
const positive = z.number().int().positive();
const level = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const listenHost = z.string().refine(isListenHost, 'an IP address (0.0.0.0 and :: included) or a host name');
const cidr = z.string().refine(isCidr, 'CIDR like 127.0.0.0/8 or ::1/128 (IPv4 /0-32, IPv6 /0-128)');
// "*" and "*.city.lg.jp" are refused, not defined: recipients are matched exactly, and an accept-all gateway
// would be an open relay into LGWAN (docs/DESIGN.md).
const acceptDomain = z.string().refine(isMailDomain, 'a mail domain like city.example.lg.jp (no wildcards: each domain is listed)');

function isRelayUrl(v: string): boolean {
  if (v === '') return true;
  try {
    const u = new URL(v);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    return isListenHost(host) && (u.port === '' || Number(u.port) > 0);
  } catch {
    return false;
  }
}

/** The whole configuration; `config/default.yaml` documents each key and its default. */
export const configSchema = z.strictObject({
  dataDir: z.string().min(1),
  redisUrl: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
  databaseUrl: z.string().regex(/^(|sqlite:.+|postgres(ql)?:\/\/.+)$/, 'empty, sqlite:PATH or postgres://…'),
  log: z.strictObject({ level }),
  hostname: z.string().refine((v) => isListenHost(v) && !/^[\d.:]+$/.test(v), 'a host name like mukaika.city.example.lg.jp'),
  siteSecret: z.string().refine((s) => s === '' || s.length >= 32, 'empty (generated into the data dir) or at least 32 characters'),
  smtp: z.strictObject({
    port,
    host: listenHost,
    allowedNetworks: z.array(cidr),
    acceptDomains: z.array(acceptDomain).min(1),
    maxMessageBytes: positive,
    maxRecipients: positive,
    maxClients: positive,
    socketTimeoutMs: positive,
    minBytesPerSecond: positive,
    tlsKeyFile: z.string(),
    tlsCertFile: z.string(),
    minFreeBytes: z.number().int().min(0),
    localPartCase: z.enum(['preserve', 'lower']),
  }),
  http: z.strictObject({
    port,
    host: listenHost,
    tokenHashes: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'sha256 hex')),
    tokens: z.array(z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 hex'), scope: z.enum(['submit', 'admin']) })),
    maxUploadBytes: positive,
    // Connection-level limits (src/ingress/http-limits.ts); headersTimeoutMs may not exceed requestTimeoutMs.
    headersTimeoutMs: positive,
    requestTimeoutMs: positive,
    idleTimeoutMs: positive,
    keepAliveTimeoutMs: positive,
    maxConnections: positive,
    maxConnectionsPerAddress: positive,
  }).refine((h) => h.headersTimeoutMs <= h.requestTimeoutMs, { message: 'must not exceed http.requestTimeoutMs', path: ['headersTimeoutMs'] }),
  web: z.strictObject({ port, host: listenHost, publicUrl: z.string().url() }),
  lgwan: z.strictObject({
    smtpUrl: z.string().regex(/^(|smtps?:\/\/.+)$/, 'empty or smtp://host:port').refine(isRelayUrl, 'empty or smtp://host:port with a valid host and port'),
    noticeFrom: z.string().email(),
    connectionTimeoutMs: positive,
    postmaster: z.union([z.literal(''), z.string().email()]),
    retryLifetimeMs: positive,
    retryMaxDelayMs: positive,
    probeMaxDelayMs: positive,
    breakerThreshold: positive,
  }),
  queue: z.strictObject({
    prefix: z.string().regex(/^[A-Za-z0-9_-]+$/),
    attempts: positive,
    backoffMs: positive,
    sanitizeConcurrency: positive,
    deliverConcurrency: positive,
    shutdownTimeoutMs: positive,
    keepCompleted: z.number().int().min(0),
    keepFailed: z.number().int().min(0),
    sanitizeMaxCrashes: positive,
  }),
  sanitize: z.strictObject({
    outputCharset: z.enum(['utf-8', 'iso-2022-jp']),
    links: z.enum(['neutralise', 'strip-scheme', 'remove']),
    maxMimeDepth: positive,
    maxMimeParts: positive,
    maxBodyChars: positive,
    noticeHeader: z.string(),
    unlockMaxAttempts: positive,
    limits: z.strictObject({
      attachmentBytes: positive,
      pages: positive,
      dpi: z.number().int().min(36).max(600),
      pagePixels: positive,
      imagePixels: positive,
      archiveDepth: positive,
      archiveEntries: positive,
      archiveTotalBytes: positive,
      archiveRatio: positive,
      archiveEntryBytes: positive,
      documentTimeoutMs: positive,
      pageTimeoutMs: positive,
      rendererMemoryMb: positive,
      csvRows: positive,
      csvColumns: positive,
      mailWallSeconds: positive,
      mailCpuSeconds: positive,
    }),
  }),
  retention: z.strictObject({ originalsDays: positive }),
});

export type Config = z.infer<typeof configSchema>;
export type Limits = Config['sanitize']['limits'];
