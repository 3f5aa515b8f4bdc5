import Encoding from 'encoding-japanese';
import { describe, expect, it } from 'vitest';
import { decodeText } from '../src/mail/mime/charset.js';

const sjis = (s: string): Buffer => Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to: 'SJIS', from: 'UNICODE' }));
const eucjp = (s: string): Buffer => Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to: 'EUCJP', from: 'UNICODE' }));
const jis = (s: string): Buffer => Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to: 'JIS', from: 'UNICODE' }));
const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const ESC = '1b';

const PROSE = 'お世話になっております。見積書を送付いたします。ご確認ください。';

describe('decodeText: labels that tell the truth', () => {
  it('ISO-2022-JP with NEC row 13 (CP50220) characters ①㈱㍉', () => {
    // ESC $ B  2D21(①) 2D6A(㈱) 2D40(㍉) 3B32 3C52(資料)  ESC ( B
    const bytes = hex(`${ESC}2442 2d21 2d6a 2d40 3b71 4e41 ${ESC}2842`);
    expect(decodeText(bytes, 'iso-2022-jp')).toEqual({ text: '①㈱㍉資料', charset: 'iso-2022-jp', labelLied: false });
  });

  it('ISO-2022-JP halfwidth katakana: ESC ( I (CP50221) and SO/SI (CP50222)', () => {
    expect(decodeText(hex(`${ESC}2849 3133 ${ESC}2842 41`), 'cp50221').text).toBe('ｱｳA');
    expect(decodeText(hex(`0e 3133 0f 41`), 'cp50222').text).toBe('ｱｳA');
    expect(decodeText(hex(`0e 3133 0f 41`), 'cp50222').charset).toBe('iso-2022-jp');
  });

  it('ISO-2022-JP from a real encoder', () => {
    expect(decodeText(jis(PROSE), 'ISO-2022-JP').text).toBe(PROSE);
  });

  it('CP932 with NEC and IBM extensions (髙﨑 ①) under every alias', () => {
    const bytes = Buffer.concat([hex('fbfc fab1 8740'), sjis('様')]);
    for (const label of ['shift_jis', 'Shift_JIS', 'x-sjis', 'cp932', 'windows-31j', 'MS932']) {
      expect(decodeText(bytes, label)).toEqual({ text: '髙﨑①様', charset: expect.any(String), labelLied: false });
    }
  });

  it('EUC-JP, including the x-euc-jp alias', () => {
    expect(decodeText(eucjp(PROSE), 'euc-jp')).toEqual({ text: PROSE, charset: 'euc-jp', labelLied: false });
    expect(decodeText(eucjp(PROSE), 'x-euc-jp')).toEqual({ text: PROSE, charset: 'euc-jp', labelLied: false });
  });

  it('UTF-8 and the utf8 alias', () => {
    expect(decodeText(Buffer.from(PROSE), 'utf8')).toEqual({ text: PROSE, charset: 'utf-8', labelLied: false });
  });

  it('ks_c_5601-1987 is EUC-KR', () => {
    expect(decodeText(hex('bdba c6bc c7d8'), 'ks_c_5601-1987')).toEqual({ text: '스티해', charset: 'euc-kr', labelLied: false });
  });

  it('iso-8859-1 Latin text stays Latin', () => {
    const bytes = Buffer.from('Formação Verão', 'latin1');
    expect(decodeText(bytes, 'iso-8859-1')).toEqual({ text: 'Formação Verão', charset: 'iso-8859-1', labelLied: false });
    expect(decodeText(bytes).text).toBe('Formação Verão');
  });
});

describe('decodeText: labels that lie', () => {
  it('Shift_JIS bytes labelled iso-8859-1', () => {
    expect(decodeText(sjis(PROSE), 'iso-8859-1')).toEqual({ text: PROSE, charset: 'shift_jis', labelLied: true });
  });

  it('EUC-JP bytes labelled utf-8', () => {
    expect(decodeText(eucjp(PROSE), 'utf-8')).toEqual({ text: PROSE, charset: 'euc-jp', labelLied: true });
  });

  it('EUC-JP bytes labelled Shift_JIS (they decode, as halfwidth katakana soup)', () => {
    expect(decodeText(eucjp(PROSE), 'shift_jis')).toEqual({ text: PROSE, charset: 'euc-jp', labelLied: true });
  });

  it('Shift_JIS bytes labelled EUC-JP', () => {
    expect(decodeText(sjis(PROSE), 'euc-jp')).toEqual({ text: PROSE, charset: 'shift_jis', labelLied: true });
  });

  it('ISO-2022-JP bytes labelled us-ascii', () => {
    expect(decodeText(jis(PROSE), 'us-ascii')).toEqual({ text: PROSE, charset: 'iso-2022-jp', labelLied: true });
  });

  it('UTF-8 bytes labelled iso-2022-jp or shift_jis', () => {
    expect(decodeText(Buffer.from(PROSE), 'iso-2022-jp')).toEqual({ text: PROSE, charset: 'utf-8', labelLied: true });
    expect(decodeText(Buffer.from(PROSE), 'shift_jis').text).toBe(PROSE);
  });

  it('no charset at all: each encoding is detected', () => {
    expect(decodeText(sjis(PROSE))).toEqual({ text: PROSE, charset: 'shift_jis', labelLied: false });
    expect(decodeText(eucjp(PROSE))).toEqual({ text: PROSE, charset: 'euc-jp', labelLied: false });
    expect(decodeText(jis(PROSE))).toEqual({ text: PROSE, charset: 'iso-2022-jp', labelLied: false });
    expect(decodeText(Buffer.from(PROSE))).toEqual({ text: PROSE, charset: 'utf-8', labelLied: false });
    expect(decodeText(sjis('会議室予約'))).toMatchObject({ text: '会議室予約' });
  });

  it('unknown labels fall back to detection, then windows-1252', () => {
    expect(decodeText(sjis(PROSE), 'x-klingon')).toEqual({ text: PROSE, charset: 'shift_jis', labelLied: true });
    // WHATWG windows-1252: 0x80 is €, 0x81 stays U+0081 (Node 20.18.3+ decoded 0x80-0x9F as Latin-1; Node 24 is right).
    expect(decodeText(hex('e9 80 81 ff'), 'x-klingon')).toMatchObject({ text: 'é€\u0081ÿ', charset: 'windows-1252' });
  });

  it('never throws on junk', () => {
    for (const label of [undefined, '', 'utf-16le', 'iso-2022-jp', '"shift_jis"', 'utf-7', '\u0000']) {
      for (const bytes of [hex(''), hex('ff fe fd 00 1b 24'), Buffer.from([0x1b, 0x24, 0x42, 0x80, 0xff]), hex('1b2442 2121 1b')]) {
        expect(() => decodeText(bytes, label)).not.toThrow();
      }
    }
  });
});

describe('the JIS normaliser works in memory proportional to its input', () => {
  it('45 MB of ASCII labelled ISO-2022-JP decodes to itself', () => {
    const line = 'plain ASCII mail body, labelled ISO-2022-JP\r\n';
    const bytes = Buffer.alloc(45 * 1024 * 1024, line);
    const r = decodeText(bytes, 'ISO-2022-JP');
    expect(r.charset).toBe('iso-2022-jp');
    expect(r.text.length).toBe(bytes.length);
    expect(r.text === bytes.toString('latin1')).toBe(true);
    expect(process.memoryUsage().rss).toBeLessThan(1024 * 1024 * 1024);
  });

  it('rewrites SO/SI, JIS X 0213 plane 1 and doubled escapes inside long runs the same as before', () => {
    const run = 'x'.repeat(100_000);
    const bytes = Buffer.concat([Buffer.from(run), hex(`0e 3133 0f 41 ${ESC}2442 ${ESC}2428 51 3b71 4e41 ${ESC}2842`), Buffer.from(run)]);
    expect(decodeText(bytes, 'iso-2022-jp').text).toBe(`${run}ｱｳA資料${run}`);
  });
});
