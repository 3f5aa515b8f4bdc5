import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REASONS } from '../src/domain/reasons.js';
import { silentLogger } from '../src/log.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { NOTICE_SEPARATOR } from '../src/mail/notice.js';
import { noticeOnlyMessage, sanitizeMessage } from '../src/sanitize/pipeline.js';
import { openHarness, type Harness } from './helpers/harness.js';

describe('one notice-mail builder', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness();
  });
  afterAll(async () => h.close());

  it('only the builder composes mail: pipeline, give-up (through noticeOnlyMessage) and unlock call buildNoticeMail', () => {
    const src = path.join(PACKAGE_ROOT, 'src');
    const files = readdirSync(src, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.ts'))
      .map((e) => path.relative(src, path.join(e.parentPath, e.name)));
    const composing = files.filter((f) => /\bcomposeMail\(/.test(readFileSync(path.join(src, f), 'utf8')));
    expect(composing.sort()).toEqual(['mail/compose.ts', 'mail/notice.ts']);
    const building = files.filter((f) => /\bbuildNoticeMail\(/.test(readFileSync(path.join(src, f), 'utf8')));
    expect(building.sort()).toEqual(['jobs/unlock.ts', 'mail/notice.ts', 'sanitize/pipeline.ts']);
    expect(readFileSync(path.join(src, 'jobs/give-up.ts'), 'utf8')).toMatch(/noticeOnlyMessage\(/);
  });

  it('the sanitized mail and the notice-only mail share the header and layout, with exact text', async () => {
    const cfg = h.ctx.config;
    const base = cfg.web.publicUrl.replace(/\/$/, '');
    const raw = Buffer.from('From: a@example.com\r\nTo: staff@example.lg.jp\r\nSubject: =?UTF-8?B?5pys5paH?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nこんにちは\r\n');
    const sctx = { config: cfg, log: silentLogger };
    const normal = await simpleParser((await sanitizeMessage('m1', raw, sctx)).mail);
    expect(normal.subject).toBe('本文');
    expect(normal.text?.trimEnd()).toBe(`${cfg.sanitize.noticeHeader}\n${NOTICE_SEPARATOR}\nこんにちは`);
    const held = await simpleParser((await noticeOnlyMessage('m2', raw, sctx, 'WORKER_CRASHED')).mail);
    expect(held.subject).toBe('本文');
    expect(held.text?.trimEnd()).toBe([
      cfg.sanitize.noticeHeader, `・(メール全体) — 保留: ${REASONS.WORKER_CRASHED}`,
      `  ${base}/messages/m2`, NOTICE_SEPARATOR, 'このメールは無害化できなかったため、原本を保留しています。',
    ].join('\n'));
  });
});
