import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { cutEncodedBlocks } from '../src/mail/body/encoded.js';
import { safeText } from '../src/mail/body/safe-text.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { sanitizeMessage } from '../src/sanitize/pipeline.js';
import { clickable } from './helpers/clickable.js';

const ctx = { config: loadConfig({ env: {} }), log: silentLogger };

/** A small PE-like file: DOS header whose e_lfanew points at "PE\0\0", the DOS stub message, an i386 machine. */
const PE = (() => {
  const b = Buffer.alloc(512, 0);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('This program cannot be run in DOS mode.\r\r\n$', 0x4e, 'latin1');
  b.write('PE\0\0', 0x80, 'latin1');
  b.writeUInt16LE(0x14c, 0x84);
  for (let i = 0x100; i < b.length; i++) b[i] = (i * 37) & 0xff;
  return b;
})();

/** uuencode as `uuencode(1)` writes it: 45 bytes a line, ` for zero, a last empty line, end. */
function uuencode(name: string, data: Buffer): string[] {
  const enc = (n: number) => (n === 0 ? '`' : String.fromCharCode(n + 32));
  const lines = [`begin 644 ${name}`];
  for (let i = 0; i < data.length; i += 45) {
    const chunk = data.subarray(i, i + 45);
    let line = enc(chunk.length);
    for (let j = 0; j < chunk.length; j += 3) {
      const a = chunk[j]!;
      const b = chunk[j + 1] ?? 0;
      const c = chunk[j + 2] ?? 0;
      line += enc(a >> 2) + enc(((a << 4) | (b >> 4)) & 63) + enc(((b << 2) | (c >> 6)) & 63) + enc(c & 63);
    }
    lines.push(line);
  }
  lines.push('`', 'end');
  return lines;
}

/**
 * A lenient uudecoder, as mail clients that turn inline uuencode into attachments use: every `begin` line
 * anywhere (indented or quoted), data lines up to `end` or the end of the text, bad lines skipped.
 */
function uudecodeAll(text: string): Buffer[] {
  const files: Buffer[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (!/^[\s>]*begin\s+[0-7]{3,4}\s+\S/.test(lines[i]!)) continue;
    const prefix = /^[\s>]*/.exec(lines[i]!)![0];
    const out: number[] = [];
    for (i++; i < lines.length; i++) {
      const l = lines[i]!.startsWith(prefix) ? lines[i]!.slice(prefix.length) : lines[i]!;
      if (/^end\s*$/.test(l)) break;
      if (l.length === 0 || /[^\x20-\x60]/.test(l)) continue;
      const n = (l.charCodeAt(0) - 32) & 63;
      const d = (k: number) => ((l.charCodeAt(k) || 32) - 32) & 63;
      for (let j = 1, got = 0; got < n; j += 4) {
        for (const x of [(d(j) << 2) | (d(j + 1) >> 4), (d(j + 1) << 4) | (d(j + 2) >> 2), (d(j + 2) << 6) | d(j + 3)]) {
          if (got++ < n) out.push(x & 0xff);
        }
      }
    }
    if (out.length) files.push(Buffer.from(out));
  }
  return files;
}

const BEFORE = ['山田様', '', 'お世話になっております。請求書を添付いたします。'];
const AFTER = ['', 'よろしくお願いいたします。', '-- ', '株式会社サンプル 経理部'];
const UU = uuencode('invoice.exe', PE);
const MARK = '[符号化されたファイルを削除しました: uuencode invoice.exe]';
const NOTICE_LINE = '・invoice.exe(本文中のuuencode) — 削除: テキスト中に埋め込まれた符号化ファイル(uuencode・yEnc・BinHex・base64等)を削除しました';

function mail(headers: string[], body: string): Buffer {
  return Buffer.from(['From: a@example.com', 'To: b@example.lg.jp', 'Subject: test', 'MIME-Version: 1.0', ...headers, '', body].join('\r\n'), 'utf8');
}
const html = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

describe('the test tools work', () => {
  it('uudecodeAll gets the PE back from the encoded text, also quoted and without end', () => {
    expect(uudecodeAll(UU.join('\n'))).toEqual([PE]);
    expect(uudecodeAll(UU.map((l) => '> ' + l).join('\n'))).toEqual([PE]);
    expect(uudecodeAll(UU.slice(0, -1).join('\n'))[0]!.subarray(0, PE.length)).toEqual(PE);
  });
});

describe('uuencode is cut, the text around it kept', () => {
  it.each([
    ['plain', UU, MARK],
    ['without end', UU.slice(0, -2), MARK],
    ['indented begin and data', UU.map((l) => '   ' + l), MARK],
    ['quoted in a reply', UU.map((l) => '> ' + l), MARK],
    ['trailing spaces stripped', UU.map((l) => l.replace(/ +$/, '')), MARK],
    ['xxencode-like begin with a mode of 4 digits', ['begin 0755 run.exe', ...UU.slice(1)], '[符号化されたファイルを削除しました: uuencode run.exe]'],
  ])('%s', (_label, block, mark) => {
    const text = [...BEFORE, ...block, ...AFTER].join('\n');
    expect(uudecodeAll(text).length).toBe(1);
    const r = cutEncodedBlocks(text);
    expect(r.text).toBe([...BEFORE, mark, ...AFTER].join('\n'));
    expect(r.blocks).toMatchObject([{ kind: 'uuencode' }]);
    expect(uudecodeAll(r.text)).toEqual([]);
  });

  it('keeps CRLF line ends and records size and hash of what it cut', () => {
    const text = [...BEFORE, ...UU, ...AFTER].join('\r\n');
    const r = cutEncodedBlocks(text);
    expect(r.text).toBe([...BEFORE, MARK, ...AFTER].join('\r\n'));
    const cut = Buffer.from(UU.join('\r\n'), 'utf8');
    expect(r.blocks[0]!.size).toBe(cut.length);
    expect(r.blocks[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('data whose begin line is gone (or spelt BEGIN) is cut too', () => {
    const headless = [...BEFORE, ...UU.slice(1), ...AFTER].join('\n');
    expect(cutEncodedBlocks(headless).text).toBe([...BEFORE, '[符号化されたファイルを削除しました: uuencode]', ...AFTER].join('\n'));
    const split = [...BEFORE, ...UU.slice(0, 3), 'ここで本文が割り込みます', ...UU.slice(3), ...AFTER].join('\n');
    expect(cutEncodedBlocks(split).text).toBe([...BEFORE, MARK, 'ここで本文が割り込みます', '[符号化されたファイルを削除しました: uuencode]', ...AFTER].join('\n'));
    const upper = [...BEFORE, 'BEGIN 644 invoice.exe', ...UU.slice(1), ...AFTER].join('\n');
    expect(cutEncodedBlocks(upper).text).toBe([...BEFORE, MARK, ...AFTER].join('\n'));
  });

  it('a begin line with no data after it is prose and stays', () => {
    const text = 'begin 644 で始まる行は uuencode の開始行です。\nbegin 644 x\nこれは本文です。';
    expect(cutEncodedBlocks(text)).toEqual({ text, blocks: [] });
  });
});

describe('in a mail: body, HTML <pre>, .txt attachment, forwarded mail', () => {
  it('text/plain body: decodes to nothing, lines before and after exact, notice names it', async () => {
    const raw = mail(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'], [...BEFORE, ...UU, ...AFTER].join('\r\n'));
    const res = await sanitizeMessage('menc1', raw, ctx);
    const out = await simpleParser(res.mail);
    const text = out.text ?? '';
    expect(uudecodeAll(text)).toEqual([]);
    expect(text).toContain([...BEFORE, MARK, ...AFTER].join('\n'));
    expect(text.split('\n')).toContain(NOTICE_LINE);
    expect(res.manifest.body).toMatchObject({ from: 'text', encodedBlocksRemoved: 1 });
    expect(out.attachments).toEqual([]);
  });

  it('HTML body with the block in <pre>', async () => {
    const body = `<html><body><p>${BEFORE[0]}</p><p>${BEFORE[2]}</p><pre>${html(UU.join('\n'))}</pre><p>よろしくお願いいたします。</p></body></html>`;
    const res = await sanitizeMessage('menc2', mail(['Content-Type: text/html; charset=utf-8'], body), ctx);
    const text = (await simpleParser(res.mail)).text ?? '';
    expect(uudecodeAll(text)).toEqual([]);
    expect(text).toContain(`${BEFORE[0]}\n\n${BEFORE[2]}\n\n${MARK}\n\nよろしくお願いいたします。`);
    expect(text.split('\n')).toContain(NOTICE_LINE);
    expect(res.manifest.body).toMatchObject({ from: 'html', encodedBlocksRemoved: 1 });
  });

  it('.txt attachment: converted, block cut, reason ENCODED_BINARY', async () => {
    const bytes = Buffer.from([...BEFORE, ...UU, ...AFTER].join('\r\n'), 'utf8');
    const res = await sanitizePart({ name: 'readme.txt', declaredType: 'text/plain', bytes, depth: 0 }, ctx);
    expect(res).toMatchObject({ action: 'text', reason: 'ENCODED_BINARY', output: { name: 'readme.txt' } });
    const text = res.output!.bytes.toString('utf8');
    expect(text).toBe([...BEFORE, MARK, ...AFTER].join('\r\n'));
    expect(uudecodeAll(text)).toEqual([]);
  });

  it('.csv attachment: the block is cut even after CSV quoting rewrote its lines', async () => {
    const csv = ['品名,備考', ...UU.map((l) => (/[",]/.test(l) ? `"${l.replace(/"/g, '""')}"` : l)), '合計,100'].join('\r\n');
    const res = await sanitizePart({ name: 'list.csv', declaredType: 'text/csv', bytes: Buffer.from(csv, 'utf8'), depth: 0 }, ctx);
    expect(res).toMatchObject({ action: 'text', reason: 'ENCODED_BINARY' });
    const text = res.output!.bytes.toString('utf8');
    expect(text).toBe('\ufeff品名,備考\r\n[符号化されたファイルを削除しました: uuencode invoice.exe]\r\n合計,100\r\n');
  });

  it('the notice of a mail with such an attachment says why', async () => {
    const raw = mail(
      ['Content-Type: multipart/mixed; boundary=b'],
      ['--b', 'Content-Type: text/plain; charset=utf-8', '', '本文です。', '--b', 'Content-Type: text/plain; charset=utf-8; name=readme.txt',
        'Content-Disposition: attachment; filename=readme.txt', '', ...BEFORE, ...UU, ...AFTER, '--b--', ''].join('\r\n'),
    );
    const res = await sanitizeMessage('menc3', raw, ctx);
    const out = await simpleParser(res.mail);
    expect(out.text?.split('\n')).toContain('・readme.txt — 変換: テキスト中に埋め込まれた符号化ファイル(uuencode・yEnc・BinHex・base64等)を削除しました');
    expect(res.manifest.parts).toMatchObject([{ name: 'readme.txt', action: 'text', reason: 'ENCODED_BINARY' }]);
    expect(out.attachments.map((a) => uudecodeAll(a.content.toString('utf8')))).toEqual([[]]);
  });

  it('a forwarded mail inside a mail: the delivered attachment decodes to nothing, the notice lists the block under it', async () => {
    const inner = ['From: x@example.com', 'Subject: fwd', 'Content-Type: text/plain; charset=utf-8', '', ...BEFORE, ...UU, ...AFTER].join('\r\n');
    const raw = mail(
      ['Content-Type: multipart/mixed; boundary=b'],
      ['--b', 'Content-Type: text/plain; charset=utf-8', '', '転送します。', '--b', 'Content-Type: message/rfc822', 'Content-Disposition: attachment; filename=fwd.eml', '', inner, '--b--', ''].join('\r\n'),
    );
    const res = await sanitizeMessage('menc4', raw, ctx);
    const out = await simpleParser(res.mail);
    const lines = out.text?.split('\n') ?? [];
    expect(lines).toContain('・fwd.eml — 変換: 添付されたメールをテキスト化しました(中の添付ファイルは一覧のみ)');
    expect(lines).toContain('  ・invoice.exe — 削除: テキスト中に埋め込まれた符号化ファイル(uuencode・yEnc・BinHex・base64等)を削除しました');
    expect(out.attachments).toHaveLength(1);
    const delivered = out.attachments[0]!.content.toString('utf8');
    expect(uudecodeAll(delivered)).toEqual([]);
    expect(delivered).toContain([...BEFORE, MARK, ...AFTER].join('\n'));
  });

  it("a forwarded mail's body: cut, listed as a removed entry", async () => {
    const inner = ['From: x@example.com', 'Subject: fwd', 'Content-Type: text/plain; charset=utf-8', '', ...BEFORE, ...UU, ...AFTER].join('\r\n');
    const res = await sanitizePart({ name: 'fwd.eml', declaredType: 'message/rfc822', bytes: Buffer.from(inner), depth: 0 }, ctx);
    const text = res.output!.bytes.toString('utf8');
    expect(uudecodeAll(text)).toEqual([]);
    expect(text).toContain([...BEFORE, MARK, ...AFTER].join('\n'));
    expect(res.entries).toMatchObject([{ name: 'invoice.exe', declaredType: 'text/x-uuencode', action: 'removed', reason: 'ENCODED_BINARY' }]);
    expect(res.entries![0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

/** yEnc as yEnc 1.3 writes it: (byte + 42) mod 256, NUL LF CR = escaped, 128 a line. */
function yenc(name: string, data: Buffer): string[] {
  const lines = [`=ybegin line=128 size=${data.length} name=${name}`];
  let line = '';
  for (const b of data) {
    const c = (b + 42) & 0xff;
    line += [0x00, 0x0a, 0x0d, 0x3d].includes(c) ? '=' + String.fromCharCode((c + 64) & 0xff) : String.fromCharCode(c);
    if (line.length >= 128) {
      lines.push(line);
      line = '';
    }
  }
  if (line) lines.push(line);
  lines.push(`=yend size=${data.length}`);
  return lines;
}

const BINHEX_ALPHABET = '!"#$%&\'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr';
function binhexLike(n: number): string[] {
  let s = ':';
  for (let i = 0; i < n; i++) s += BINHEX_ALPHABET[(i * 7 + 3) % 64];
  s += ':';
  const lines = ['(This file must be converted with BinHex 4.0)', ''];
  for (let i = 0; i < s.length; i += 64) lines.push(s.slice(i, i + 64));
  return lines;
}

const wrap = (b64: string, width = 76) => b64.match(new RegExp(`.{1,${width}}`, 'g'))!;
const random = (n: number, seed = 1) => {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};

describe('yEnc, BinHex, base64', () => {
  it('yEnc block (with and without =yend)', () => {
    const block = yenc('invoice.exe', PE);
    const text = [...BEFORE, ...block, ...AFTER].join('\n');
    expect(cutEncodedBlocks(text).text).toBe([...BEFORE, '[符号化されたファイルを削除しました: yenc invoice.exe]', ...AFTER].join('\n'));
    // Unterminated: what follows cannot be told apart from the data, so it goes too.
    expect(cutEncodedBlocks([...BEFORE, ...block.slice(0, -1), ...AFTER].join('\n')).text).toBe(
      [...BEFORE, '[符号化されたファイルを削除しました: yenc invoice.exe]'].join('\n'),
    );
  });

  it('BinHex 4.0 block', () => {
    const text = [...BEFORE, ...binhexLike(700), ...AFTER].join('\n');
    expect(cutEncodedBlocks(text)).toMatchObject({ text: [...BEFORE, '[符号化されたファイルを削除しました: binhex]', ...AFTER].join('\n'), blocks: [{ kind: 'binhex' }] });
  });

  it('a 40 KB base64 run of a ZIP, wrapped or as one line inside JSON', () => {
    const zip = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), random(30_000)]);
    const b64 = zip.toString('base64');
    expect(b64.length).toBeGreaterThan(40_000);
    const wrapped = [...BEFORE, ...wrap(b64), ...AFTER].join('\n');
    expect(cutEncodedBlocks(wrapped).text).toBe([...BEFORE, '[符号化されたファイルを削除しました: base64]', ...AFTER].join('\n'));
    const json = `データ: {"file":"${b64}","name":"x.zip"} 以上`;
    expect(cutEncodedBlocks(json).text).toBe('データ: {"file":"[符号化されたファイルを削除しました: base64]","name":"x.zip"} 以上');
  });

  it('any base64 run of 8 KB or more goes, whatever it decodes to; a short one only with a file signature', () => {
    const big = random(6_200).toString('base64');
    expect(big.length).toBeGreaterThanOrEqual(8192);
    expect(cutEncodedBlocks(wrap(big).join('\n')).blocks).toHaveLength(1);
    const pe = PE.toString('base64');
    expect(cutEncodedBlocks(wrap(pe, 64).join('\n')).text).toBe('[符号化されたファイルを削除しました: base64]');
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), random(200)]).toString('base64');
    expect(cutEncodedBlocks(`添付: ${pdf}`).text).toBe('添付: [符号化されたファイルを削除しました: base64]');
  });

  it('hex dumps of a file go too (4D5A…), a hash stays', () => {
    const hex = PE.toString('hex').toUpperCase();
    expect(cutEncodedBlocks(`実行してください:\n${wrap(hex, 64).join('\n')}\n以上`).text).toBe('実行してください:\n[符号化されたファイルを削除しました: hex]\n以上');
    expect(cutEncodedBlocks(`"payload":"${hex}"`).text).toBe('"payload":"[符号化されたファイルを削除しました: hex]"');
    const sha512 = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';
    expect(cutEncodedBlocks(`SHA-512: ${sha512}`).blocks).toEqual([]);
  });

  it('short tokens and small non-file base64 stay', () => {
    const token = 'dGhpcyBpcyBhIDQwLWNoYXIgdG9rZW4gZm9yIGFw';
    expect(token).toHaveLength(40);
    const small = wrap(random(3_000, 7).toString('base64')).join('\n');
    const text = `確認コード: ${token}\nハッシュ: ${'a1b2c3d4'.repeat(8)}\n${small}\nPGP は対象外です。`;
    expect(cutEncodedBlocks(text)).toEqual({ text, blocks: [] });
  });

  it('is idempotent: a second pass keeps the markers and reports the same blocks', () => {
    const text = [...BEFORE, ...UU, ...yenc('a.bin', PE), ...AFTER].join('\n');
    const once = safeText(text, 'neutralise');
    const twice = safeText(once.text, 'neutralise');
    expect(twice.text).toBe(once.text);
    expect(twice.encoded.map((b) => [b.kind, b.name])).toEqual(once.encoded.map((b) => [b.kind, b.name]));
    expect(once.encoded.map((b) => [b.kind, b.name])).toEqual([['uuencode', 'invoice.exe'], ['yenc', 'a.bin']]);
  });

  it("a declared name can't inject a link or a second line", () => {
    const block = ['begin 644 https://evil.example/x.exe\u2028[a],"b"', ...UU.slice(1)];
    const r = safeText(block.join('\n'), 'neutralise');
    expect(r.text).toBe('[符号化されたファイルを削除しました: uuencode hxxps://evil[.]example/x.exe__a___b_]');
    expect(clickable(r.text).links).toEqual([]);
  });
});

describe('adversarial 2 MB inputs finish and come out exactly (linear by construction; no time asserted)', () => {
  it('begin 644 repeated, on one line and on many', () => {
    const one = 'begin 644 '.repeat(200_000);
    expect(cutEncodedBlocks(one)).toEqual({ text: one, blocks: [] });
    const many = 'begin 644 \n'.repeat(200_000);
    expect(cutEncodedBlocks(many)).toEqual({ text: many, blocks: [] });
    const named = 'begin 644 x\n'.repeat(180_000);
    expect(cutEncodedBlocks(named)).toEqual({ text: named, blocks: [] });
  });

  it('one huge block, and =ybegin lines without an end', () => {
    const huge = ['begin 644 big.exe', ...Array<string>(33_000).fill('M' + 'A'.repeat(60)), 'end', '以上'].join('\n');
    expect(cutEncodedBlocks(huge).text).toBe('[符号化されたファイルを削除しました: uuencode big.exe]\n以上');
    const y = '=ybegin line=128 name=x\n'.repeat(90_000);
    expect(cutEncodedBlocks(y).blocks).toHaveLength(1);
    const b64 = 'QUFB'.repeat(500_000);
    expect(cutEncodedBlocks(b64).text).toBe('[符号化されたファイルを削除しました: base64]');
  });
});

describe('message/partial', () => {
  const innerEntity = ['Subject: part 1', 'Content-Type: text/plain; charset=utf-8', '', 'SECRET-INNER-TEXT 分割された中身', ...UU].join('\r\n');

  it('as the whole mail: removed with a reason, its inner entity never in the output', async () => {
    const raw = mail(['Content-Type: message/partial; id="abc@example.com"; number=1; total=2'], innerEntity);
    const res = await sanitizeMessage('mpart1', raw, ctx);
    expect(res.manifest.parts).toMatchObject([{ declaredType: 'message/partial', action: 'removed', reason: 'MESSAGE_PARTIAL' }]);
    const out = await simpleParser(res.mail);
    expect(out.attachments).toEqual([]);
    expect(res.mail.toString('utf8')).not.toContain('SECRET-INNER-TEXT');
    expect(uudecodeAll(out.text ?? '')).toEqual([]);
    expect(out.text?.split('\n')).toContain('・attachment-1.bin — 削除: 分割されたメール(message/partial)の断片のため削除しました(原本は保管されています)');
  });

  it('inside a multipart, and inside a forwarded mail', async () => {
    const raw = mail(
      ['Content-Type: multipart/mixed; boundary=b'],
      ['--b', 'Content-Type: text/plain; charset=utf-8', '', '本文です。', '--b', 'Content-Type: message/partial; id="abc"; number=2; total=2', '', innerEntity, '--b--', ''].join('\r\n'),
    );
    const res = await sanitizeMessage('mpart2', raw, ctx);
    expect(res.manifest.parts).toMatchObject([{ action: 'removed', reason: 'MESSAGE_PARTIAL' }]);
    expect(res.mail.toString('utf8')).not.toContain('SECRET-INNER-TEXT');
    const fwd = await sanitizePart({ name: 'fwd.eml', declaredType: 'message/rfc822', bytes: raw, depth: 0 }, ctx);
    expect(fwd.output!.bytes.toString('utf8')).not.toContain('SECRET-INNER-TEXT');
  });
});
