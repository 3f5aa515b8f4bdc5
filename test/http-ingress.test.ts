import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { openHarness, type Harness } from './helpers/harness.js';

const TOKEN = 'test-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MAIL = 'From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: api\r\n\r\nhello\r\n';

describe('HTTP ingress /api/v1', () => {
  let h: Harness;
  let app: ReturnType<typeof buildHttp>;
  beforeAll(async () => {
    h = await openHarness({ overrides: { http: { tokenHashes: [hashToken(TOKEN)], maxUploadBytes: 5000 } } });
    app = buildHttp(h.ctx);
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
});
