import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskedConfig } from '../src/config/load.js';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { startSmtp } from '../src/ingress/smtp.js';
import { loadSiteSecret, SITE_SECRET_FILE } from '../src/store/site-secret.js';
import { openFlow, openHarness, waitFor, type Flow } from './helpers/harness.js';
import { queueOverSmtp } from './helpers/smtp-client.js';
import { ppapMail, ppapZip } from './helpers/ppap-mail.js';

const MAIL = 'From: vendor@example.com\r\nTo: staff@example.lg.jp\r\nSubject: same mail\r\nMessage-ID: <same@example.com>\r\n\r\nbody\r\n';

describe('message ids are keyed with the site secret', () => {
  it('two sites with different secrets give different ids for the same mail; one site gives the same id', async () => {
    const ids: string[] = [];
    for (const siteSecret of ['site-one-secret-0123456789abcdefghij', 'site-two-secret-0123456789abcdefghij']) {
      const h = await openHarness({ overrides: { siteSecret } });
      const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
      try {
        const a = await queueOverSmtp(smtp.port, 'vendor@example.com', ['staff@example.lg.jp'], MAIL);
        const b = await queueOverSmtp(smtp.port, 'vendor@example.com', ['staff@example.lg.jp'], MAIL);
        expect(b).toBe(a);
        expect(await h.ctx.records.statusHistory(a)).toHaveLength(1);
        ids.push(a);
      } finally {
        await smtp.close();
        await h.close();
      }
    }
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('generates the secret into the data dir once (0600, 64 hex digits) and keeps it; config print masks a configured one', async () => {
    const h = await openHarness();
    try {
      const file = path.join(h.dir, SITE_SECRET_FILE);
      const secret = readFileSync(file, 'utf8').trim();
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(h.ctx.siteSecret.toString()).toBe(secret);
      expect(loadSiteSecret('', h.dir).toString()).toBe(secret);
    } finally {
      await h.close();
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-secret-'));
    try {
      writeFileSync(path.join(dir, SITE_SECRET_FILE), 'half-writ');
      expect(() => loadSiteSecret('', dir)).toThrow(/not a site secret/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const c = await openHarness({ overrides: { siteSecret: 'configured-secret-0123456789abcdefgh', http: { tokens: [{ sha256: hashToken(A), scope: 'submit' }] } } });
    try {
      expect(maskedConfig(c.config)).toMatchObject({ siteSecret: '***', http: { tokens: [{ sha256: '***', scope: 'submit' }] } });
    } finally {
      await c.close();
    }
  });
});

const A = 'token-a-submit-0123456789';
const B = 'token-b-submit-0123456789';
const ADMIN = 'token-admin-scope-0123456789';
const LEGACY = 'token-legacy-hashes-0123456789';

const ppapMailFor = (password: string, subject: string) => ppapMail(ppapZip(password, '令和8年度 予算資料\n'), subject, 'pw later');

describe('API tokens are scoped to what they submitted; admin-scoped tokens see everything', () => {
  let flow: Flow;
  let app: ReturnType<typeof buildHttp>;
  beforeAll(async () => {
    flow = await openFlow({
      overrides: {
        http: {
          tokenHashes: [hashToken(LEGACY)],
          tokens: [{ sha256: hashToken(A), scope: 'submit' }, { sha256: hashToken(B), scope: 'submit' }, { sha256: hashToken(ADMIN), scope: 'admin' }],
        },
        sanitize: { unlockMaxAttempts: 3 },
      },
    });
    app = buildHttp(flow.h.ctx);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await flow?.close();
  });

  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const post = (token: string, raw: string) => app.inject({
    method: 'POST', url: '/api/v1/messages?from=vendor@example.com&to=staff@example.lg.jp', headers: { ...as(token), 'content-type': 'message/rfc822' }, payload: raw,
  });
  const get = (token: string, id: string) => app.inject({ method: 'GET', url: `/api/v1/messages/${id}`, headers: as(token) });
  const unlock = (token: string, id: string, password: string) => app.inject({
    method: 'POST', url: `/api/v1/messages/${id}/parts/0/unlock`, headers: { ...as(token), 'content-type': 'application/json' }, payload: { password },
  });
  const sanitized = (id: string) => waitFor(async () => (await flow.h.ctx.records.getMessage(id))?.manifest);

  it('token B can neither read nor unlock (nor spend attempts on) token A\'s record: 404; admin and legacy tokens can read', async () => {
    const res = await post(A, ppapMailFor('right-pass', 'scoped'));
    expect(res.statusCode).toBe(202);
    const { id } = res.json<{ id: string }>();
    expect((await flow.h.ctx.records.getMessage(id))?.submitter).toMatch(/^tok-[0-9a-f]{16}$/);
    await sanitized(id);
    expect((await get(A, id)).statusCode).toBe(200);
    const other = await get(B, id);
    expect(other.statusCode).toBe(404);
    expect(other.json()).toEqual({ error: 'NOT_FOUND', message: 'not found' });
    for (const pw of ['guess1', 'guess2', 'guess3', 'guess4']) expect((await unlock(B, id, pw)).statusCode).toBe(404);
    expect(await flow.h.ctx.database.db.selectFrom('unlocks').selectAll().where('message_id', '=', id).execute()).toEqual([]);
    expect((await get(ADMIN, id)).json()).toMatchObject({ id, status: expect.any(String), unlocks: [] });
    expect((await get(LEGACY, id)).statusCode).toBe(200);
    // The same mail posted by B is B's own record (its own id), not a window onto A's.
    const mine = await post(B, ppapMailFor('right-pass', 'scoped'));
    expect(mine.json<{ id: string }>().id).not.toBe(id);
    expect((await get(B, mine.json<{ id: string }>().id)).statusCode).toBe(200);
  });

  it('mail relayed over SMTP is readable and unlockable by admin-scoped tokens only', async () => {
    const id = await queueOverSmtp(flow.smtp.port, 'vendor@example.com', ['staff@example.lg.jp'], ppapMailFor('pw-smtp', 'smtp-relayed'));
    await sanitized(id);
    expect((await get(A, id)).statusCode).toBe(404);
    expect((await unlock(A, id, 'pw-smtp')).statusCode).toBe(404);
    expect((await get(ADMIN, id)).statusCode).toBe(200);
    expect((await unlock(ADMIN, id, 'pw-smtp')).statusCode).toBe(200);
  });

  it('right passwords sent in parallel all succeed (only wrong ones count), and one follow-up mail is sent', async () => {
    const id = await queueOverSmtp(flow.smtp.port, 'vendor@example.com', ['staff@example.lg.jp'], ppapMailFor('parallel-ok', 'parallel-right'));
    await sanitized(id);
    const replies = await Promise.all([0, 1, 2, 3, 4].map(() => unlock(ADMIN, id, 'parallel-ok')));
    expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(replies.map((r) => r.json<{ batch: number; status: string }>()).map((j) => [j.status, j.batch])).toEqual(Array(5).fill(['unlocked', 1]));
    const rows = await flow.h.ctx.database.db.selectFrom('unlocks').select(['failures', 'status', 'in_flight']).where('message_id', '=', id).execute();
    expect(rows).toEqual([{ failures: 0, status: 'unlocked', in_flight: 0 }]);
    await waitFor(() => flow.sink.mails.some((m) => m.raw.toString().includes(`${id}-u1`)));
    expect(flow.sink.mails.filter((m) => m.raw.toString().includes(`${id}-u1`))).toHaveLength(1);
    expect(await flow.h.ctx.records.deliveries(id, 1)).toMatchObject([{ recipient: 'staff@example.lg.jp', batch: 1 }]);
  });

  it('wrong passwords sent in parallel are still limited atomically, and a right one after them is refused', async () => {
    const id = await queueOverSmtp(flow.smtp.port, 'vendor@example.com', ['staff@example.lg.jp'], ppapMailFor('parallel-wrong', 'parallel-wrong'));
    await sanitized(id);
    const codes = (await Promise.all([0, 1, 2, 3, 4, 5].map((i) => unlock(ADMIN, id, `nope${i}`)))).map((r) => r.statusCode).sort();
    expect(codes).toEqual([422, 422, 422, 429, 429, 429]);
    const rows = await flow.h.ctx.database.db.selectFrom('unlocks').select(['failures', 'status', 'in_flight']).where('message_id', '=', id).execute();
    expect(rows).toEqual([{ failures: 3, status: 'held', in_flight: 0 }]);
    expect((await unlock(ADMIN, id, 'parallel-wrong')).statusCode).toBe(429);
  });
});
