import { createHash, timingSafeEqual } from 'node:crypto';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Context } from '../context.js';
import { splitMailboxList } from '../domain/mailbox.js';
import { MukaikaError, toMukaikaError } from '../errors.js';
import { unlockPart, type UnlockResult } from '../jobs/unlock.js';
import type { MessageRecord } from '../store/records.js';
import { Unlocks } from '../store/unlocks.js';
import { acceptOriginal } from './accept.js';
import { checkRecipient, checkSender, recipientPolicy } from './smtp-policy.js';

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Bearer token check against the configured sha256 hashes, in constant time per candidate. */
export function tokenAllowed(tokenHashes: readonly string[], header: string | undefined): boolean {
  const m = /^Bearer ([\x21-\x7e]{16,512})$/.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(hashToken(m[1]!), 'hex');
  let ok = false;
  for (const h of tokenHashes) ok = timingSafeEqual(given, Buffer.from(h, 'hex')) || ok;
  return ok;
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

function unlockView(id: string, r: UnlockResult) {
  return { id, status: r.part.output ? 'unlocked' : r.part.action, batch: r.batch, part: r.part };
}

function sendError(reply: FastifyReply, err: MukaikaError): FastifyReply {
  if (err.spec.http === 503 || err.spec.http === 507) reply.header('Retry-After', '30');
  return reply.code(err.spec.http).send({ error: err.code, message: err.spec.message });
}

/** The Internet-side API (BRIEF §3), a Fastify plugin under /api/v1 with bearer auth on every route. */
async function api(app: FastifyInstance, ctx: Context): Promise<void> {
  const { config } = ctx;
  const recipients = recipientPolicy(config.smtp);
  app.addContentTypeParser('message/rfc822', (_req, payload, done) => done(null, payload));

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!tokenAllowed(config.http.tokenHashes, req.headers.authorization)) {
      return sendError(reply.header('WWW-Authenticate', 'Bearer'), new MukaikaError('UNAUTHORIZED'));
    }
  });

  app.post('/messages', async (req, reply) => {
    if (req.headers['content-type']?.split(';')[0]?.trim().toLowerCase() !== 'message/rfc822') {
      return sendError(reply, new MukaikaError('BAD_REQUEST', 'Content-Type must be message/rfc822'));
    }
    const q = req.query as Record<string, unknown>;
    // A repeated parameter arrives as an array: which one is meant is not ours to guess.
    if (Array.isArray(q.to) || Array.isArray(q.from)) return sendError(reply, new MukaikaError('BAD_REQUEST', 'to= and from= may be given once each'));
    const to = splitMailboxList(typeof q.to === 'string' ? q.to : '');
    if (to.length === 0) return sendError(reply, new MukaikaError('BAD_REQUEST', 'to= recipients required'));
    // Same strict rules as SMTP (domain/mailbox.ts): only recipients in the accepted domains (no relay),
    // each stored once in canonical form.
    const from = checkSender(typeof q.from === 'string' ? q.from : '', false);
    if (from instanceof MukaikaError) return sendError(reply, from);
    const rcpts: string[] = [];
    for (const rcpt of to) {
      const res = checkRecipient(recipients, rcpt, rcpts);
      if (res instanceof MukaikaError) return sendError(reply, res);
      if (!rcpts.includes(res.address)) rcpts.push(res.address);
    }
    const { id } = await acceptOriginal(ctx, {
      kind: 'message', source: 'http', envelope: { from, to: rcpts },
      data: req.body as NodeJS.ReadableStream as AsyncIterable<Buffer>, maxBytes: config.http.maxUploadBytes,
    });
    return reply.code(202).send({ id });
  });

  app.post('/files', async (req, reply) => {
    // One byte over the limit reaches the spool, which refuses it before any record exists.
    const file = await req.file({ limits: { fileSize: config.http.maxUploadBytes + 1, files: 1 } });
    if (!file) return sendError(reply, new MukaikaError('BAD_REQUEST', 'multipart file field required'));
    const { id } = await acceptOriginal(ctx, {
      kind: 'file', source: 'http', envelope: { from: '', to: [] }, data: file.file,
      maxBytes: config.http.maxUploadBytes, name: file.filename, discriminator: `${file.filename}\n${Date.now()}`,
    });
    return reply.code(202).send({ id });
  });

  for (const kind of ['messages', 'files'] as const) {
    app.get<{ Params: { id: string } }>(`/${kind}/:id`, async (req, reply) => {
      const rec = await ctx.records.getMessage(req.params.id);
      if (!rec || rec.kind !== (kind === 'messages' ? 'message' : 'file')) return sendError(reply, new MukaikaError('NOT_FOUND'));
      return { ...view(rec), unlocks: await new Unlocks(ctx.database.db).all(rec.id) };
    });
  }

  // PPAP: the password travels in this request body only; it is never logged, stored or queued.
  const unlockBody = {
    type: 'object', required: ['password'], additionalProperties: false,
    properties: { password: { type: 'string', minLength: 1, maxLength: 1024 } },
  } as const;
  app.post<{ Params: { id: string; n: string }; Body: { password: string } }>(
    '/messages/:id/parts/:n/unlock', { schema: { body: unlockBody } },
    async (req) => unlockView(req.params.id, await unlockPart(ctx, req.params.id, partIndex(req.params.n), req.body.password)),
  );
  app.post<{ Params: { id: string }; Body: { password: string } }>(
    '/files/:id/unlock', { schema: { body: unlockBody } },
    async (req) => unlockView(req.params.id, await unlockPart(ctx, req.params.id, 0, req.body.password)),
  );
}

export function buildHttp(ctx: Context): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: ctx.config.http.maxUploadBytes, trustProxy: false });
  app.register(multipart);
  app.setErrorHandler((error, _req, reply) => {
    const err = (error as { statusCode?: number }).statusCode === 413 ? new MukaikaError('MESSAGE_TOO_LARGE') : toMukaikaError(error);
    if (err.code === 'INTERNAL') ctx.log.error({ err: error }, 'http error');
    const status = (error as { statusCode?: number }).statusCode;
    if (err.code === 'INTERNAL' && status && status >= 400 && status < 500) {
      return reply.code(status).send({ error: 'BAD_REQUEST', message: error instanceof Error ? error.message : 'bad request' });
    }
    return sendError(reply, err);
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.register(async (scope) => api(scope, ctx), { prefix: '/api/v1' });
  return app;
}
