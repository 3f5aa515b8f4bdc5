import { createHash, timingSafeEqual } from 'node:crypto';
import multipart from '@fastify/multipart';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Context } from '../context.js';
import { splitMailboxList } from '../domain/mailbox.js';
import type { Config } from '../config/schema.js';
import { MukaikaError, toMukaikaError } from '../errors.js';
import { EVT, type Logger } from '../log.js';
import { cleanFileName } from '../mail/mime/names.js';
import type { UnlockJobResult } from '../queue/queues.js';
import type { MessageRecord } from '../store/records.js';
import { acceptOriginal } from './accept.js';
import { limitedFastify } from './http-limits.js';
import { checkRecipient, checkSender, recipientPolicy } from './smtp-policy.js';

/** Non-file form fields an upload may carry before its file (none is used). */
const MAX_FORM_FIELDS = 8;

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** An authenticated API caller: its id (stored as a record's submitter) and what it may see. */
export interface ApiToken {
  id: string;
  scope: 'submit' | 'admin';
}

declare module 'fastify' {
  interface FastifyRequest {
    apiToken: ApiToken | null;
  }
}

/**
 * Bearer token check against the configured sha256 hashes, in constant time per candidate. `tokenHashes`
 * are admin-scoped (their meaning before scopes existed); `tokens` carry their own scope.
 */
export function authenticate(http: Config['http'], header: string | undefined): ApiToken | undefined {
  const m = /^Bearer ([\x21-\x7e]{16,512})$/.exec(header ?? '');
  if (!m) return undefined;
  const hash = hashToken(m[1]!);
  const given = Buffer.from(hash, 'hex');
  let scope: ApiToken['scope'] | undefined;
  const candidates = [...http.tokenHashes.map((sha256) => ({ sha256, scope: 'admin' as const })), ...http.tokens];
  for (const t of candidates) {
    if (timingSafeEqual(given, Buffer.from(t.sha256, 'hex')) && scope !== 'admin') scope = t.scope;
  }
  // A prefix of the hash names the token in records: enough to tell tokens apart, not the whole hash.
  return scope ? { id: `tok-${hash.slice(0, 16)}`, scope } : undefined;
}

/** Submit-scoped tokens see only what they submitted; records of others do not exist for them (404). */
function visibleTo(token: ApiToken | null, rec: MessageRecord): boolean {
  return token?.scope === 'admin' || (token !== null && rec.submitter === token.id);
}

/**
 * A request body as the spool reads it: a failure of the client's bytes (a multipart part that never
 * ends, a wrong boundary, a connection dropped mid-body) is the client's error, 400 or 413, not ours.
 */
async function* fromClient(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (err) {
    throw clientError(err);
  }
}

function clientError(err: unknown): MukaikaError {
  if (err instanceof MukaikaError) return err;
  const status = (err as { statusCode?: number } | null)?.statusCode;
  if (status === 413) return new MukaikaError('MESSAGE_TOO_LARGE', (err as Error).message);
  return new MukaikaError('BAD_REQUEST', `request body: ${(err as Error | null)?.message ?? String(err)}`, { cause: err });
}

function view(rec: MessageRecord) {
  return {
    id: rec.id, kind: rec.kind, status: rec.status, verdict: rec.verdict, createdAt: rec.createdAt,
    updatedAt: rec.updatedAt, manifest: rec.manifest,
  };
}

function partIndex(n: string): number {
  if (!/^\d{1,4}$/.test(n)) throw new MukaikaError('BAD_REQUEST', 'part index must be a number');
  return Number(n);
}

function unlockView(id: string, r: UnlockJobResult) {
  return { id, status: r.part.output ? 'unlocked' : r.part.action, batch: r.batch, part: r.part };
}

function sendError(log: Logger, reply: FastifyReply, err: MukaikaError): FastifyReply {
  if (err.spec.http === 503 || err.spec.http === 507) reply.header('Retry-After', '30');
  // Refused before its body was read: close rather than keep the connection, or Node reads and discards
  // whatever the client keeps sending for up to http.requestTimeoutMs, no token needed (docs/RELIABILITY.md).
  if (!reply.request.raw.complete) reply.header('Connection', 'close');
  // The client's mistakes are not our faults: logged at info with their code, never at error.
  if (err.spec.http >= 400 && err.spec.http < 500 && err.code !== 'UNAUTHORIZED') {
    log.info({ evt: EVT.HTTP_REFUSED, status: err.spec.http, code: err.code, detail: err.message.slice(0, 300) }, 'http refused');
  }
  return reply.code(err.spec.http).send({ error: err.code, message: err.spec.message });
}

/**
 * How long an unlock request waits for its worker: an attempt may wait for the others' slots (up to one
 * document timeout) and then decrypt (another), plus the follow-up mail.
 */
export function unlockWaitMs(config: Config): number {
  return 3 * config.sanitize.limits.documentTimeoutMs + 10_000;
}

/** The Internet-side API (docs/DESIGN.md §5), a Fastify plugin under /api/v1 with bearer auth on every route. */
async function api(app: FastifyInstance, ctx: Context): Promise<void> {
  const { config } = ctx;
  const recipients = recipientPolicy(config.smtp);
  const refuse = (reply: FastifyReply, err: MukaikaError) => sendError(ctx.log, reply, err);
  app.addContentTypeParser('message/rfc822', (_req, payload, done) => done(null, payload));
  app.decorateRequest('apiToken', null);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const token = authenticate(config.http, req.headers.authorization);
    if (!token) return refuse(reply.header('WWW-Authenticate', 'Bearer'), new MukaikaError('UNAUTHORIZED'));
    req.apiToken = token;
  });

  /** The record behind `id` when this token may see it; otherwise NOT_FOUND, as for no record at all. */
  const visibleRecord = async (req: FastifyRequest, id: string, kind: MessageRecord['kind']): Promise<MessageRecord> => {
    const rec = await ctx.records.getMessage(id);
    if (!rec || rec.kind !== kind || !visibleTo(req.apiToken, rec)) throw new MukaikaError('NOT_FOUND');
    return rec;
  };

  /**
   * Refuses any other media type before the body is parsed: Fastify would otherwise parse a JSON or text
   * body of up to http.maxUploadBytes into memory first, only for the handler to refuse it.
   */
  const onlyType = (type: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.headers['content-type']?.split(';')[0]?.trim().toLowerCase() !== type) {
      return refuse(reply, new MukaikaError('BAD_REQUEST', `Content-Type must be ${type}`));
    }
  };

  app.post('/messages', { onRequest: onlyType('message/rfc822') }, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    // A repeated parameter arrives as an array: which one is meant is not ours to guess.
    if (Array.isArray(q.to) || Array.isArray(q.from)) return refuse(reply, new MukaikaError('BAD_REQUEST', 'to= and from= may be given once each'));
    const to = splitMailboxList(typeof q.to === 'string' ? q.to : '');
    if (to.length === 0) return refuse(reply, new MukaikaError('BAD_REQUEST', 'to= recipients required'));
    // Same strict rules as SMTP (domain/mailbox.ts): only recipients in the accepted domains (no relay),
    // each stored once in canonical form.
    const from = checkSender(typeof q.from === 'string' ? q.from : '', false);
    if (from instanceof MukaikaError) return refuse(reply, from);
    const rcpts: string[] = [];
    for (const rcpt of to) {
      const res = checkRecipient(recipients, rcpt, rcpts);
      if (res instanceof MukaikaError) return refuse(reply, res);
      if (!rcpts.includes(res)) rcpts.push(res);
    }
    const token = req.apiToken!;
    // The token is part of the id: the same mail posted by two tokens is two records, each its own.
    const { id, duplicate } = await acceptOriginal(ctx, {
      kind: 'message', source: 'http', envelope: { from, to: rcpts }, submitter: token.id, discriminator: token.id,
      data: fromClient(req.body as AsyncIterable<Buffer>), maxBytes: config.http.maxUploadBytes,
    });
    return reply.code(202).send({ id, duplicate });
  });

  app.post('/files', { onRequest: onlyType('multipart/form-data') }, async (req, reply) => {
    // One byte over the limit reaches the spool, which refuses it before any record exists.
    // Fields before the file are held in memory by the multipart parser (up to 1000 parts of 1 MiB each by
    // default: a 157 MB upload under a 1 MB limit was taken, the process growing by ~480 MB). We use none:
    // a few short ones are tolerated, more is 413.
    const limits = { fileSize: config.http.maxUploadBytes + 1, files: 1, fields: MAX_FORM_FIELDS, fieldSize: 1024, parts: MAX_FORM_FIELDS + 1, headerPairs: 64 };
    const file = await req.file({ limits }).catch((err: unknown) => {
      throw clientError(err);
    });
    if (!file) return refuse(reply, new MukaikaError('BAD_REQUEST', 'multipart file field required'));
    // Cleaned like attachment names (no NULs, controls, paths or 10 000 characters into records and mail).
    const name = cleanFileName(file.filename) || 'upload.bin';
    const token = req.apiToken!;
    const { id, duplicate } = await acceptOriginal(ctx, {
      kind: 'file', source: 'http', envelope: { from: '', to: [] }, data: fromClient(file.file), submitter: token.id,
      maxBytes: config.http.maxUploadBytes, name, discriminator: `${token.id}\n${name}\n${Date.now()}`,
    });
    return reply.code(202).send({ id, duplicate });
  });

  for (const kind of ['messages', 'files'] as const) {
    app.get<{ Params: { id: string } }>(`/${kind}/:id`, async (req) => {
      const rec = await visibleRecord(req, req.params.id, kind === 'messages' ? 'message' : 'file');
      return { ...view(rec), unlocks: await ctx.unlocks.all(rec.id) };
    });
  }

  // PPAP: the password travels in this request body and, sealed to the workers' key, in an unlock job that a
  // sanitize worker runs (docs/DESIGN.md §9, "Unlock through the worker"); it is never logged or stored.
  // Its JSON is parsed into memory: a password of at most 1024 characters needs no 50 MB body.
  const UNLOCK_BODY_BYTES = 16 * 1024;
  const unlock = (id: string, index: number, password: string) => ctx.queues.requestUnlock(id, index, password, unlockWaitMs(config));
  const unlockBody = {
    type: 'object', required: ['password'], additionalProperties: false,
    properties: { password: { type: 'string', minLength: 1, maxLength: 1024 } },
  } as const;
  app.post<{ Params: { id: string; n: string }; Body: { password: string } }>(
    '/messages/:id/parts/:n/unlock', { schema: { body: unlockBody }, bodyLimit: UNLOCK_BODY_BYTES },
    async (req) => {
      const index = partIndex(req.params.n);
      await visibleRecord(req, req.params.id, 'message');
      return unlockView(req.params.id, await unlock(req.params.id, index, req.body.password));
    },
  );
  app.post<{ Params: { id: string }; Body: { password: string } }>(
    '/files/:id/unlock', { schema: { body: unlockBody }, bodyLimit: UNLOCK_BODY_BYTES },
    async (req) => {
      await visibleRecord(req, req.params.id, 'file');
      return unlockView(req.params.id, await unlock(req.params.id, 0, req.body.password));
    },
  );
}

/**
 * Whether this gateway can take mail now: Redis answers, the database answers, the data disk is above the
 * reserve. It also shows the sandbox mode each live sanitize worker reported (its parsers run there, not
 * here); a worker whose parsers cannot run unprivileged makes the gateway not ready, since its mail would
 * only be held.
 */
async function readiness(ctx: Context): Promise<{ ready: boolean; failed: string[]; checks: Record<string, unknown> }> {
  const { config, queues, records, blobs } = ctx;
  const redis = await queues.ping();
  const database = await records.getMessage('m-readyz-probe').then(() => true, () => false);
  const freeBytes = await blobs.freeBytes().catch(() => -1);
  const disk = freeBytes >= config.smtp.minFreeBytes;
  const workers = redis ? await queues.sandboxReports().catch(() => []) : [];
  const sandbox = !workers.some((w) => w.refused);
  const checks = {
    redis: { ok: redis },
    database: { ok: database },
    disk: { ok: disk, freeBytes, reserveBytes: config.smtp.minFreeBytes },
    sandbox: { ok: sandbox, workers: workers.map(({ worker, mode, uid, reason, refused }) => ({ worker, mode, uid, reason, refused })) },
  };
  const failed = Object.entries(checks).filter(([, c]) => !c.ok).map(([name]) => name);
  return { ready: failed.length === 0, failed, checks };
}

export function buildHttp(ctx: Context): FastifyInstance {
  const app = limitedFastify(ctx);
  app.register(multipart);
  app.setErrorHandler((error, _req, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    // Fastify's and the multipart plugin's own 4xx (malformed JSON, bad boundary, body too large) are the
    // client's error like ours; only what is left is an internal fault, logged at error.
    const err = status === 413 ? new MukaikaError('MESSAGE_TOO_LARGE')
      : error instanceof MukaikaError || !status || status >= 500 ? toMukaikaError(error)
        : clientError(error);
    if (err.code === 'INTERNAL') ctx.log.error({ err: error }, 'http error');
    return sendError(ctx.log, reply, err);
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const r = await readiness(ctx);
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  app.register(async (scope) => api(scope, ctx), { prefix: '/api/v1' });
  return app;
}
