/** Seeded, reproducible mutations for the hostile-input sweep. Same seed, same inputs, on any machine. */

export type Rnd = () => number;

/** mulberry32: tiny, fast, good enough to spread mutations; not for anything secret. */
export function prng(seed: number): Rnd {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const int = (r: Rnd, n: number) => Math.floor(r() * n);
export const pick = <T>(r: Rnd, xs: readonly T[]): T => xs[int(r, xs.length)]!;

/** Byte-level damage to a file; `keepHead` spares the magic bytes so type detection still routes it to its converter. */
export function damage(r: Rnd, b: Buffer, keepHead = 16): { op: string; bytes: Buffer } {
  const out = Buffer.from(b);
  const at = () => keepHead + int(r, Math.max(1, out.length - keepHead));
  switch (int(r, 5)) {
    case 0: {
      const cut = at();
      return { op: `truncate@${cut}`, bytes: out.subarray(0, cut) };
    }
    case 1: {
      const n = 1 + int(r, 64);
      for (let i = 0; i < n; i++) {
        const k = at();
        if (k < out.length) out[k] = out[k]! ^ (1 << int(r, 8));
      }
      return { op: `flip×${n}`, bytes: out };
    }
    case 2: {
      const pos = at();
      const junk = Buffer.from(Array.from({ length: 1 + int(r, 512) }, () => int(r, 256)));
      return { op: `splice${junk.length}@${pos}`, bytes: Buffer.concat([out.subarray(0, pos), junk, out.subarray(pos)]) };
    }
    case 3: {
      const from = at();
      const len = 1 + int(r, 4096);
      const to = at();
      return { op: `dup${len}@${from}→${to}`, bytes: Buffer.concat([out.subarray(0, to), out.subarray(from, from + len), out.subarray(to)]) };
    }
    default: {
      const pos = at();
      const len = 1 + int(r, 2048);
      return { op: `zero${len}@${pos}`, bytes: Buffer.concat([out.subarray(0, pos), Buffer.alloc(len), out.subarray(pos + len)]) };
    }
  }
}

const B = 'sweep-b0undary';
/** A hostile but well-formed base mail: HTML with script and links, formula CSV, fake PDF (an .exe), nested mail. */
export function baseMail(n: number): string {
  const exe = Buffer.concat([Buffer.from('MZ\x90\x00', 'latin1'), Buffer.alloc(200, 0x41)]).toString('base64');
  return [
    `From: =?UTF-8?B?${Buffer.from('差出人').toString('base64')}?= <a@example.com>`, 'To: b@example.lg.jp', `Subject: sweep ${n}`,
    `Message-ID: <sweep-${n}@example.com>`, 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${B}"`, '',
    `--${B}`, 'Content-Type: multipart/alternative; boundary="alt"', '',
    '--alt', 'Content-Type: text/plain; charset=iso-2022-jp', 'Content-Transfer-Encoding: 7bit', '', '\x1b$B$3$s$K$A$O\x1b(B https://evil.example/x', '',
    '--alt', 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '',
    '<p onclick=3D"x()">=E3=81=93=E3=82=93<script>alert(1)</script><a href=3D"javascript:evil()">x</a><iframe src=3D"https://e.example"></iframe></p>',
    '--alt--', '',
    `--${B}`, 'Content-Type: text/csv; name="list.csv"', 'Content-Disposition: attachment; filename="list.csv"', '',
    '=cmd|\' /C calc\'!A0,+1+1,-2+3,@SUM(A1),"=HYPERLINK(""http://x"")",ok', '',
    `--${B}`, 'Content-Type: application/pdf; name="invoice.pdf"', 'Content-Disposition: attachment; filename="invoice.pdf"',
    'Content-Transfer-Encoding: base64', '', exe.replace(/.{76}/g, '$&\r\n'), '',
    `--${B}`, 'Content-Type: text/html; name="page.html"', 'Content-Disposition: attachment; filename="../../page.html"', '',
    '<html><body onload="evil()"><script src="http://x/a.js"></script>見積<style>*{}</style></body></html>', '',
    `--${B}`, 'Content-Type: message/rfc822', '', 'Subject: inner', 'Content-Type: text/html', '', '<script>inner()</script>inner body', '',
    `--${B}--`, '',
  ].join('\r\n');
}

const ENCODINGS = ['base64', 'quoted-printable', '7bit', '8bit', 'binary', 'x-uuencode', 'BASE64 ; junk', '', 'garbage'];
const CHARSETS = ['iso-2022-jp', 'shift_jis', 'cp932', 'euc-jp', 'utf-7', 'utf-16le', 'x-unknown', '', '"', 'utf-8"; charset="latin1'];

/** One structural/header/encoding mutation of a mail, named so a failure can be reproduced by hand. */
export function mutateMail(r: Rnd, raw: string): { op: string; raw: Buffer } {
  const lines = raw.split('\r\n');
  const li = () => int(r, lines.length);
  switch (int(r, 14)) {
    case 0: return { op: 'bytes', raw: damage(r, Buffer.from(raw, 'latin1'), 0).bytes };
    case 1: return { op: 'drop-boundary', raw: Buffer.from(raw.replace(new RegExp(`--${B}(--)?\\r\\n`), ''), 'latin1') };
    case 2: { const i = li(); lines.splice(i, 0, ...lines.slice(i, i + 1 + int(r, 20))); return { op: 'dup-lines', raw: j(lines) }; }
    case 3: return { op: 'cte', raw: Buffer.from(raw.replace(/Content-Transfer-Encoding: [^\r]*/g, () => `Content-Transfer-Encoding: ${pick(r, ENCODINGS)}`), 'latin1') };
    case 4: return { op: 'charset', raw: Buffer.from(raw.replace(/charset=[^\r;]*/g, () => `charset=${pick(r, CHARSETS)}`), 'latin1') };
    case 5: lines.splice(1 + int(r, 5), 0, `X-Long: ${'a'.repeat(1000 + int(r, 100_000))}`); return { op: 'long-header', raw: j(lines) };
    case 6: return { op: 'line-endings', raw: Buffer.from(raw.replace(/\r\n/g, () => pick(r, ['\n', '\r', '\r\n', '\n\r', '\0\r\n'])), 'latin1') };
    case 7: return { op: 'encoded-words', raw: Buffer.from(raw.replace(/Subject: [^\r]*/, `Subject: =?${pick(r, CHARSETS)}?${pick(r, ['B', 'Q', 'X'])}?${'=?'.repeat(int(r, 5))}${Buffer.from(String(r())).toString('base64')}?= =?UTF-8?B?44GC?`), 'latin1') };
    case 8: {
      const depth = 1 + int(r, 300);
      let body = raw;
      for (let d = 0; d < depth; d++) body = `Content-Type: multipart/mixed; boundary="n${d}"\r\n\r\n--n${d}\r\n${body}\r\n--n${d}--\r\n`;
      return { op: `nest×${depth}`, raw: Buffer.from(`Subject: nest\r\nMIME-Version: 1.0\r\n${body}`, 'latin1') };
    }
    case 9: {
      const n = 1 + int(r, 3000);
      const parts = Array.from({ length: n }, (_, i) => `--${B}\r\nContent-Type: text/plain; name="p${i}.txt"\r\n\r\n${i}\r\n`).join('');
      return { op: `parts×${n}`, raw: Buffer.from(raw.replace(`--${B}--`, `${parts}--${B}--`), 'latin1') };
    }
    case 10: return { op: 'filenames', raw: Buffer.from(raw.replace(/filename="[^"]*"/g, () => `filename="${pick(r, ['../../../etc/passwd', 'a\u202Efdp.exe', 'CON', '', 'x'.repeat(5000), '=?UTF-8?B?Li4vLi4v?=', 'a\0b.pdf'])}"`), 'utf8') };
    case 11: return { op: 'content-type', raw: Buffer.from(raw.replace(/Content-Type: [^\r]*/g, () => `Content-Type: ${pick(r, ['multipart/mixed', 'multipart/mixed; boundary=""', `multipart/mixed; boundary="${B}"; boundary="x"`, 'message/rfc822', 'text/html', 'application/octet-stream', '', 'multipart/alternative; boundary="--"'])}`), 'latin1') };
    case 12: return { op: 'base64-junk', raw: Buffer.from(raw.replace(/(base64\r\n\r\n)([A-Za-z0-9+/]{10})/g, (_m, a: string, b: string) => `${a}${b}!!*\0===${'A'.repeat(int(r, 7))}`), 'latin1') };
    default: { lines.splice(li(), 0, pick(r, ['no-colon-header', ': empty-name', `${'H'.repeat(2000)}: v`, 'Content-Type:', ' folded-start', '\0'])); return { op: 'bad-header', raw: j(lines) }; }
  }
}

const j = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'latin1');
