import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { createLogger } from '../src/log.js';
import { openHarness, type Harness } from './helpers/harness.js';

const TOKEN = 'test-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MAIL = 'From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: api\r\n\r\nhello\r\n';

describe('HTTP ingress /api/v1', () => {
  let h: Harness;
  let app: ReturnType<typeof buildHttp>;
  /** Every log line the API wrote, parsed. */
  const logLines: { level: number; evt?: string; code?: string; status?: number }[] = [];
  beforeAll(async () => {
    h = await openHarness({ overrides: { http: { tokenHashes: [hashToken(TOKEN)], maxUploadBytes: 5000 } } });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
        done();
      },
    });
    app = buildHttp({ ...h.ctx, log: createLogger('info', sink) });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await h?.close();
  });

  it('refuses requests without a valid bearer token on every route', async () => {
    for (const [method, url] of [['POST', '/api/v1/messages'], ['POST', '/api/v1/files'], ['GET', '/api/v1/messages/mabc'], ['GET', '/api/v1/files/fabc']] as const) {
      const res = await app.inject({ method, url });
      expect(res.statusCode, url).toBe(401);
      const bad = await app.inject({ method, url, headers: { authorization: 'Bearer wrong-token-wrong-token' } });
      expect(bad.statusCode, url).toBe(401);
    }
  });

  it('accepts a raw message: 202 {id}, then GET shows status and manifest', async () => {
    const res = await app.inject({
      method: 'POST', url: '/api/v1/messages?from=a@example.com&to=b@example.lg.jp',
      headers: { ...AUTH, 'content-type': 'message/rfc822' }, payload: MAIL,
    });
    expect(res.statusCode).toBe(202);
    const { id } = res.json<{ id: string }>();
    expect(id).toMatch(/^m[0-9a-f]{24}$/);
    expect(res.json()).toEqual({ id, duplicate: false });
    const get = await app.inject({ method: 'GET', url: `/api/v1/messages/${id}`, headers: AUTH });
    expect(get.statusCode).toBe(200);
    expect(get.json()).toMatchObject({ id, kind: 'message', status: 'received', manifest: null });
    expect((await h.ctx.queues.sanitize.getJob(id))?.data).toEqual({ id });
  });

  it('refuses recipients outside the accepted domains and wrong content types', async () => {
    const relay = await app.inject({
      method: 'POST', url: '/api/v1/messages?to=x@evil.example', headers: { ...AUTH, 'content-type': 'message/rfc822' }, payload: MAIL,
    });
    expect(relay.statusCode).toBe(403);
    for (const [from, to] of [['a@b.jp>\r\nX-Evil: 1', 'b@example.lg.jp'], ['a@example.com', 'b\r\nRSET@example.lg.jp'], ['a@example.com', 'x y@example.lg.jp']]) {
      const inj = await app.inject({
        method: 'POST', url: `/api/v1/messages?from=${encodeURIComponent(from!)}&to=${encodeURIComponent(to!)}`,
        headers: { ...AUTH, 'content-type': 'message/rfc822' }, payload: MAIL,
      });
      expect(inj.statusCode, `${from} ${to}`).toBeGreaterThanOrEqual(400);
    }
    const ct = await app.inject({ method: 'POST', url: '/api/v1/messages?to=b@example.lg.jp', headers: { ...AUTH, 'content-type': 'text/plain' }, payload: MAIL });
    expect(ct.statusCode).toBe(400);
  });

  it('accepts a multipart file upload and refuses one over the size limit without a record', async () => {
    const form = (content: string) => {
      const b = 'XBOUNDARYX';
      return {
        payload: `--${b}\r\nContent-Disposition: form-data; name="file"; filename="報告書.txt"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n--${b}--\r\n`,
        headers: { ...AUTH, 'content-type': `multipart/form-data; boundary=${b}` },
      };
    };
    const ok = await app.inject({ method: 'POST', url: '/api/v1/files', ...form('本文です') });
    expect(ok.statusCode).toBe(202);
    const { id } = ok.json<{ id: string }>();
    const rec = await h.ctx.records.getMessage(id);
    expect(rec).toMatchObject({ kind: 'file', originalName: '報告書.txt', originalSize: Buffer.byteLength('本文です') });
    const get = await app.inject({ method: 'GET', url: `/api/v1/files/${id}`, headers: AUTH });
    expect(get.json()).toMatchObject({ id, kind: 'file' });
    expect((await app.inject({ method: 'GET', url: `/api/v1/messages/${id}`, headers: AUTH })).statusCode).toBe(404);

    const before = await h.ctx.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const big = await app.inject({ method: 'POST', url: '/api/v1/files', ...form('x'.repeat(6000)) });
    expect(big.statusCode).toBe(413);
    const after = await h.ctx.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  const postMail = (query: string, payload = MAIL) => app.inject({
    method: 'POST', url: `/api/v1/messages?${query}`, headers: { ...AUTH, 'content-type': 'message/rfc822' }, payload,
  });

  it('answers a repeated to= or from= with 400, not 500', async () => {
    for (const q of ['to=b@example.lg.jp&to=c@example.lg.jp', 'from=a@example.com&from=x@example.com&to=b@example.lg.jp', 'to=b@example.lg.jp&to=b@example.lg.jp']) {
      const res = await postMail(q);
      expect(res.statusCode, q).toBe(400);
      expect(res.json(), q).toEqual({ error: 'BAD_REQUEST', message: 'bad request' });
    }
  });

  it('says when the same message was posted before: 202 with the same id and "duplicate": true', async () => {
    const payload = 'From: a@example.com\r\nSubject: twice over the API\r\n\r\nsame\r\n';
    const first = await postMail('from=a@example.com&to=b@example.lg.jp', payload);
    const again = await postMail('from=a@example.com&to=b@EXAMPLE.LG.JP,B@example.lg.jp,b@example.lg.jp', payload);
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    const { id } = first.json<{ id: string }>();
    expect(first.json()).toEqual({ id, duplicate: false });
    expect(again.json()).toEqual({ id, duplicate: true });
    expect(await h.ctx.records.statusHistory(id)).toHaveLength(1);
    expect((await h.ctx.records.getMessage(id))?.recipients).toEqual(['b@example.lg.jp']);
  });

  const multipart = (body: string, contentType: string) => ({ payload: body, headers: { ...AUTH, 'content-type': contentType } });

  it('answers a wrong or missing multipart boundary with 400, logged as a client error (never at error level)', async () => {
    logLines.length = 0;
    const body = '--RIGHT\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\ndata\r\n--RIGHT--\r\n';
    for (const ct of ['multipart/form-data; boundary=WRONG', 'multipart/form-data']) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/files', ...multipart(body, ct) });
      expect(res.statusCode, ct).toBe(400);
      expect(res.json<{ error: string }>().error, ct).toBe('BAD_REQUEST');
    }
    // A part that never ends: the stream fails while the spool is reading it.
    const cut = await app.inject({ method: 'POST', url: '/api/v1/files', ...multipart('--B\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\ndata without end', 'multipart/form-data; boundary=B') });
    expect(cut.statusCode).toBe(400);
    expect(logLines.filter((l) => l.level >= 50)).toEqual([]);
    expect(logLines.filter((l) => l.evt === 'MK114').map((l) => [l.level, l.status, l.code])).toEqual([[30, 400, 'BAD_REQUEST'], [30, 400, 'BAD_REQUEST'], [30, 400, 'BAD_REQUEST']]);
  });

  it('cleans upload names like attachment names: no NUL or controls, at most 200 characters', async () => {
    const upload = async (filename: string) => {
      const b = 'NAMEBOUNDARY';
      const res = await app.inject({
        method: 'POST', url: '/api/v1/files',
        ...multipart(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/plain\r\n\r\nx\r\n--${b}--\r\n`, `multipart/form-data; boundary=${b}`),
      });
      expect(res.statusCode).toBe(202);
      return (await h.ctx.records.getMessage(res.json<{ id: string }>().id))?.originalName;
    };
    expect(await upload('evil\u0000.exe\u0000.txt')).toBe('evil.exe.txt');
    expect(await upload(`${'あ'.repeat(10_000)}.txt`)).toBe(`${'あ'.repeat(65)}.txt`);
    expect(await upload('..\\..\\windows\\報告\u2028書\u202e.txt')).toBe('報告 書.txt');
    expect(await upload('\u0000')).toBe('upload.bin');
  });
});
