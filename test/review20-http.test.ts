import net from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../src/log.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';

const TOKEN = 'review20-http-token-0123456789';

/** One raw connection: everything received, and whether the server ended it. */
function connect(port: number) {
  const c = { socket: net.connect(port, '127.0.0.1'), received: '', closed: false };
  c.socket.on('data', (d: Buffer) => { c.received += d.toString('latin1'); });
  c.socket.on('error', () => undefined);
  c.socket.on('close', () => { c.closed = true; });
  return c;
}

const statusLines = (s: string) => [...s.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('a refused request does not keep its connection to read (or be fed) the body', () => {
  let h: Harness;
  let app: ReturnType<typeof buildHttp>;
  let port: number;
  let id: string;
  beforeAll(async () => {
    // Long request and idle timeouts: only the refusal itself may end these connections.
    h = await openHarness({ overrides: { http: { tokenHashes: [hashToken(TOKEN)], requestTimeoutMs: 120_000, idleTimeoutMs: 120_000 } } });
    app = buildHttp(h.ctx);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as net.AddressInfo).port;
    const res = await app.inject({
      method: 'POST', url: '/api/v1/messages?to=staff%40example.lg.jp', payload: 'Subject: x\r\n\r\nx\r\n',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'message/rfc822' },
    });
    id = res.json<{ id: string }>().id;
  });
  afterAll(async () => {
    await app?.close();
    await h?.close();
  });

  const BODY = 256 * 1024;
  const heads: [string, string][] = [
    ['no token (Expect: 100-continue too)', 'POST /api/v1/messages?to=staff@example.lg.jp HTTP/1.1\r\nHost: gw\r\nContent-Type: message/rfc822\r\nExpect: 100-continue\r\n'],
    ['a wrong token', 'POST /api/v1/messages?to=staff@example.lg.jp HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer wrong-token-0123456789abc\r\nContent-Type: message/rfc822\r\n'],
    ['a wrong content type', `POST /api/v1/messages?to=staff@example.lg.jp HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: message/rfc822x\r\n`],
    ['a recipient outside the accepted domains', `POST /api/v1/messages?to=x@evil.example HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: message/rfc822\r\n`],
  ];

  it.each(heads)('%s: the error reply closes the connection; the body sent after it and a request behind it are never read', async (_what, head) => {
    const c = connect(port);
    await new Promise((r) => c.socket.once('connect', r));
    c.socket.write(`${head}Content-Length: ${BODY}\r\n\r\nSubject: x\r\n\r\n`);
    await waitFor(() => statusLines(c.received).some((s) => s >= 400));
    // The client keeps going: the rest of the body, then a valid request pipelined behind it.
    const rest = Buffer.alloc(BODY - 'Subject: x\r\n\r\n'.length, 0x61);
    c.socket.write(Buffer.concat([rest, Buffer.from(`GET /api/v1/messages/${id} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`)]));
    await waitFor(() => c.closed || statusLines(c.received).length > 1 + (head.includes('Expect') ? 1 : 0));
    const codes = statusLines(c.received).filter((s) => s !== 100);
    expect(codes).toHaveLength(1);
    expect(codes[0]).toBeGreaterThanOrEqual(400);
    expect(c.received).toMatch(/\r\nconnection: close\r\n/i);
    await waitFor(() => c.closed);
    c.socket.destroy();
  });

  it('a refusal without a body to read (GET 404) and an accepted POST keep the connection: pipelining still works', async () => {
    const c = connect(port);
    await new Promise((r) => c.socket.once('connect', r));
    const body = 'Subject: pipelined\r\n\r\nx\r\n';
    c.socket.write(`GET /api/v1/messages/m000000000000000000000000 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`
      + `POST /api/v1/messages?to=staff@example.lg.jp HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: message/rfc822\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      + `GET /api/v1/messages/${id} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    await waitFor(() => statusLines(c.received).length === 3);
    expect(statusLines(c.received)).toEqual([404, 202, 200]);
    expect(c.received).not.toMatch(/connection: close/i);
    expect(c.closed).toBe(false);
    c.socket.destroy();
  });
});

describe('a multipart upload cannot fill memory with form fields before its file', () => {
  let h: Harness;
  let app: ReturnType<typeof buildHttp>;
  beforeAll(async () => {
    h = await openHarness({ overrides: { http: { tokenHashes: [hashToken(TOKEN)], maxUploadBytes: 1_000_000 } } });
    app = buildHttp(h.ctx);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await h?.close();
  });

  const upload = (fields: string[]) => app.inject({
    method: 'POST', url: '/api/v1/files',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'multipart/form-data; boundary=B' },
    payload: Buffer.concat([
      ...fields.map((v, i) => Buffer.from(`--B\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n${v}\r\n`)),
      Buffer.from('--B\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n'),
    ]),
  });
  const files = async () => (await h.ctx.database.db.selectFrom('messages').select('id').where('kind', '=', 'file').execute()).length;

  it('40 fields of 1 MiB each (41 MB under a 1 MB limit) are refused 413 with no record; a couple of short ones still pass', async () => {
    const big = await upload(Array.from({ length: 40 }, () => 'v'.repeat(1024 * 1024)));
    expect(big.statusCode).toBe(413);
    expect(big.json()).toEqual({ error: 'MESSAGE_TOO_LARGE', message: 'message too large' });
    expect(await files()).toBe(0);
    const ok = await upload(['note', 'x'.repeat(100)]);
    expect(ok.statusCode).toBe(202);
    expect(await files()).toBe(1);
  });
});

describe('bodies are not parsed into memory for routes that refuse them or need only a little', () => {
  let h: Harness;
  let app: ReturnType<typeof buildHttp>;
  let out = '';
  beforeAll(async () => {
    h = await openHarness({ overrides: { http: { tokenHashes: [hashToken(TOKEN)] } } });
    const log = createLogger('info', new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb(); } }));
    app = buildHttp({ ...h.ctx, log });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await h?.close();
  });
  const details = () => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.evt === 'MK114').map((l) => [l.status, l.code, l.detail]);

  it('a JSON or text body to /messages or /files is refused on its Content-Type, never parsed (5 MB of broken JSON)', async () => {
    const junk = `{"a":"${'x'.repeat(5_000_000)}`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    const r1 = await app.inject({ method: 'POST', url: '/api/v1/messages?to=staff%40example.lg.jp', headers: { ...auth, 'content-type': 'application/json' }, payload: junk });
    const r2 = await app.inject({ method: 'POST', url: '/api/v1/files', headers: { ...auth, 'content-type': 'application/json' }, payload: junk });
    const r3 = await app.inject({ method: 'POST', url: '/api/v1/files', headers: { ...auth, 'content-type': 'text/plain' }, payload: junk });
    expect([r1.statusCode, r2.statusCode, r3.statusCode]).toEqual([400, 400, 400]);
    expect(details()).toEqual([
      [400, 'BAD_REQUEST', 'Content-Type must be message/rfc822'],
      [400, 'BAD_REQUEST', 'Content-Type must be multipart/form-data'],
      [400, 'BAD_REQUEST', 'Content-Type must be multipart/form-data'],
    ]);
  });

  it('an unlock body over 16 KiB is 413 before it is parsed; a normal one reaches the record check', async () => {
    out = '';
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const big = await app.inject({ method: 'POST', url: '/api/v1/messages/m000000000000000000000000/parts/0/unlock', headers: auth, payload: JSON.stringify({ password: 'p'.repeat(1_000_000) }) });
    expect(big.statusCode).toBe(413);
    const small = await app.inject({ method: 'POST', url: '/api/v1/messages/m000000000000000000000000/parts/0/unlock', headers: auth, payload: JSON.stringify({ password: 'secret' }) });
    expect(small.json()).toEqual({ error: 'NOT_FOUND', message: 'not found' });
  });
});
