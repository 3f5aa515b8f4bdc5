import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const positive = z.number().int().positive();
const level = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** The whole configuration; `config/default.yaml` documents each key and its default. */
export const configSchema = z.strictObject({
  dataDir: z.string().min(1),
  redisUrl: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
  databaseUrl: z.string().regex(/^(|sqlite:.+|postgres(ql)?:\/\/.+)$/, 'empty, sqlite:PATH or postgres://…'),
  log: z.strictObject({ level }),
  hostname: z.string().min(1),
  smtp: z.strictObject({
    port,
    host: z.string(),
    allowedNetworks: z.array(z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'CIDR like 127.0.0.0/8')),
    acceptDomains: z.array(z.string().min(1)).min(1),
    maxMessageBytes: positive,
    maxRecipients: positive,
    maxClients: positive,
    socketTimeoutMs: positive,
    minBytesPerSecond: positive,
    tlsKeyFile: z.string(),
    tlsCertFile: z.string(),
    minFreeBytes: z.number().int().min(0),
  }),
  http: z.strictObject({
    port,
    host: z.string(),
    tokenHashes: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'sha256 hex')),
    maxUploadBytes: positive,
  }),
  web: z.strictObject({ port, host: z.string(), publicUrl: z.string().url() }),
  lgwan: z.strictObject({
    smtpUrl: z.string().regex(/^(|smtps?:\/\/.+)$/, 'empty or smtp://host:port'),
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
    }),
  }),
  retention: z.strictObject({ originalsDays: positive }),
});

export type Config = z.infer<typeof configSchema>;
export type Limits = Config['sanitize']['limits'];
