import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REASONS } from '../src/domain/reasons.js';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { NOTICE_SEPARATOR } from '../src/mail/notice.js';
import { openFlow, waitFor, type Flow } from './helpers/harness.js';
import { queueOverSmtp } from './helpers/smtp-client.js';
import { ppapMail, ppapZip } from './helpers/ppap-mail.js';

const TOKEN = 'ppap-token-0123456789abcdef';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-ppap-'));
const zipOf = (password: string) => ppapZip(password, '令和8年度 予算資料\n=SUM(A1:A3)\n');
const mailWith = (zip: Buffer, subject: string) => ppapMail(zip, subject, 'Password follows in a separate mail.', `ppap-${subject}@example.com`);

describe('PPAP round trip: held → wrong password refused and counted → right password → follow-up mail', () => {
  let flow: Flow;
  let app: ReturnType<typeof buildHttp>;
  beforeAll(async () => {
    flow = await openFlow({ overrides: { http: { tokenHashes: [hashToken(TOKEN)] }, sanitize: { unlockMaxAttempts: 3 } } });
    app = buildHttp(flow.h.ctx);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await flow?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const sendMail = (raw: string): Promise<string> => queueOverSmtp(flow.smtp.port, 'vendor@example.com', ['staff@example.lg.jp'], raw);
  const unlock = (id: string, password: string) => app.inject({
    method: 'POST', url: `/api/v1/messages/${id}/parts/0/unlock`,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: { password },
  });

  it('holds the encrypted zip, tells the recipient, and unlocks it with the right password only', async () => {
    const id = await sendMail(mailWith(zipOf('s3cret-PPAP'), 'ppap1'));
    const first = await waitFor(() => flow.sink.mails.find((m) => m.raw.toString().includes(`X-Mukaika-ID: ${id}\r\n`)));
    const parsed = await simpleParser(first.raw);
    expect(parsed.text).toMatch(/・shiryou\.zip — 保留: パスワード付きのため原本を保留しました/);
    expect(parsed.attachments).toHaveLength(0);
    const rec = await flow.h.ctx.records.getMessage(id);
    expect(rec?.manifest?.parts[0]).toMatchObject({ name: 'shiryou.zip', action: 'held', reason: 'ENCRYPTED' });

    const wrong = await unlock(id, 'guess');
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json()).toMatchObject({ error: 'WRONG_PASSWORD' });
    const after = await app.inject({ method: 'GET', url: `/api/v1/messages/${id}`, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(after.json().unlocks).toEqual([{ part: 0, failures: 1, status: 'held', batch: null, manifest: null }]);

    const right = await unlock(id, 's3cret-PPAP');
    expect(right.statusCode, right.body).toBe(200);
    expect(right.json()).toMatchObject({ id, status: 'unlocked', batch: 1, part: { action: 'converted', output: { type: 'application/zip' } } });

    const follow = await waitFor(() => flow.sink.mails.find((m) => m.raw.toString().includes(`X-Mukaika-ID: ${id}-u1`)));
    expect(follow.to).toEqual(['staff@example.lg.jp']);
    const fp = await simpleParser(follow.raw);
    expect(fp.subject).toBe('[解除済] ppap1');
    expect(fp.text).toContain('パスワード付きファイルを無害化しました');
    // Built by the one notice builder (notice.ts buildNoticeMail): the configured header, as in every notice.
    const cfg = flow.h.ctx.config;
    const base = cfg.web.publicUrl.replace(/\/$/, '');
    const reason = REASONS[right.json<{ part: { reason: keyof typeof REASONS } }>().part.reason];
    expect(fp.text?.trimEnd()).toBe([
      cfg.sanitize.noticeHeader, `・shiryou.zip — 変換: ${reason}`, `  ${base}/messages/${id}/parts/0`,
      `  ・report.csv — 変換: ${REASONS.CSV_NEUTRALISED}`, NOTICE_SEPARATOR,
      `パスワード付きファイルを無害化しました。先にお届けしたメール(${id})で保留していた添付ファイルを、パスワードで開いて無害化しました。`,
    ].join('\n'));
    expect(parsed.text?.startsWith(`${cfg.sanitize.noticeHeader}\n・shiryou.zip — 保留: `)).toBe(true);
    expect(fp.attachments).toHaveLength(1);
    const zipOut = path.join(tmp, 'out.zip');
    writeFileSync(zipOut, fp.attachments[0]!.content);
    // The follow-up zip is new and unencrypted, and its text entry is the neutralised text.
    const listing = execFileSync('unzip', ['-Z1', zipOut], { encoding: 'utf8' });
    expect(listing.trim()).toBe('report.csv');
    const text = execFileSync('unzip', ['-p', zipOut, 'report.csv'], { encoding: 'utf8' });
    expect(text).toContain('令和8年度 予算資料');
    expect(text).toContain("'=SUM(A1:A3)");

    // A second unlock returns the same result and sends nothing again.
    expect((await unlock(id, 's3cret-PPAP')).json()).toMatchObject({ batch: 1 });
    await new Promise((r) => setTimeout(r, 500));
    expect(flow.sink.mails.filter((m) => m.raw.toString().includes(`${id}-u1`))).toHaveLength(1);
  });

  it('locks the unlock after too many wrong passwords, also when they come in parallel', async () => {
    const id = await sendMail(mailWith(zipOf('another-one'), 'ppap2'));
    await waitFor(async () => (await flow.h.ctx.records.getMessage(id))?.manifest);
    // In parallel, as a script would try: still no more than unlockMaxAttempts (3) guesses get decrypted.
    const codes = (await Promise.all([0, 1, 2, 3, 4].map((i) => unlock(id, `nope${i}`)))).map((r) => r.statusCode).sort();
    expect(codes).toEqual([422, 422, 422, 429, 429]);
    const locked = await unlock(id, 'another-one');
    expect(locked.statusCode).toBe(429);
    expect(locked.json()).toMatchObject({ error: 'PASSWORD_ATTEMPTS_EXCEEDED' });
  });
});
