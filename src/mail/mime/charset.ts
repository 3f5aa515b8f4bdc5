/**
 * Bytes → text for mail parts and headers. Labels lie often in Japanese mail (Shift_JIS sent as
 * iso-8859-1, ISO-2022-JP sent as us-ascii, no label at all), and 文字化け is what users complain
 * about most, so the label is only a hint checked against the bytes.
 */

const ALIASES: Record<string, string> = {
  cp932: 'shift_jis',
  'ms-932': 'shift_jis',
  'windows-932': 'shift_jis',
  'x-ms-cp932': 'shift_jis',
  'shift-jisx0213': 'shift_jis',
  'x-euc-jp': 'euc-jp',
  eucjp: 'euc-jp',
  'euc-jis-2004': 'euc-jp',
  'euc-jisx0213': 'euc-jp',
  cp51932: 'euc-jp',
  'iso-2022-jp-1': 'iso-2022-jp',
  'iso-2022-jp-2': 'iso-2022-jp',
  'iso-2022-jp-3': 'iso-2022-jp',
  'iso-2022-jp-2004': 'iso-2022-jp',
  'iso-2022-jp-ms': 'iso-2022-jp',
  cp50220: 'iso-2022-jp',
  cp50221: 'iso-2022-jp',
  cp50222: 'iso-2022-jp',
  'x-cp50220': 'iso-2022-jp',
  'x-cp50221': 'iso-2022-jp',
  'x-cp50222': 'iso-2022-jp',
  jis: 'iso-2022-jp',
  ks_c_5601: 'euc-kr',
  'ks_c_5601-1987': 'euc-kr',
  cp949: 'euc-kr',
  ms949: 'euc-kr',
  uhc: 'euc-kr',
  utf8: 'utf-8',
  'utf-8': 'utf-8',
  'x-unknown': '',
  ascii: 'us-ascii',
  'us-ascii': 'us-ascii',
  'ansi_x3.4-1968': 'us-ascii',
  'iso646-us': 'us-ascii',
};

/** Canonical name for a declared charset: lower case, aliases resolved, RFC 2231 language removed. */
export function normaliseLabel(label: string | undefined): string {
  if (label == null) return '';
  const l = label
    .trim()
    .replace(/^["']+|["']+$/g, '')
    .replace(/\*.*$/, '')
    .toLowerCase();
  return ALIASES[l] ?? l;
}

function decoderName(label: string): string | undefined {
  if (label === 'us-ascii') return 'windows-1252';
  try {
    return new TextDecoder(label).encoding;
  } catch {
    return undefined;
  }
}

function tryDecode(bytes: Uint8Array, encoding: string, fatal: boolean): string | undefined {
  try {
    return new TextDecoder(encoding, { fatal, ignoreBOM: false }).decode(bytes);
  } catch {
    return undefined;
  }
}

function allAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/** ESC $ B, ESC $ @, ESC ( J, ESC ( I, ESC $ ( D/O/Q: only ISO-2022-JP uses these. */
function hasJisEscape(bytes: Uint8Array): boolean {
  for (let i = bytes.indexOf(0x1b); i >= 0 && i + 2 < bytes.length; i = bytes.indexOf(0x1b, i + 1)) {
    const a = bytes[i + 1];
    const b = bytes[i + 2];
    if (a === 0x24 && (b === 0x42 || b === 0x40 || b === 0x28)) return true;
    if (a === 0x28 && (b === 0x4a || b === 0x49)) return true;
  }
  return false;
}

function escapeLength(bytes: Uint8Array, i: number): number {
  if (bytes[i] !== 0x1b) return 0;
  if (bytes[i + 1] === 0x24 && bytes[i + 2] === 0x28) return 4;
  return bytes[i + 1] === 0x24 || bytes[i + 1] === 0x28 ? 3 : 0;
}

/**
 * WHATWG's iso-2022-jp decoder knows ESC $ B/@, ESC ( B/J/I. CP50222 switches to halfwidth katakana
 * with SO/SI, and ISO-2022-JP-3/2004 announce JIS X 0213 plane 1 (a superset of JIS X 0208) with
 * ESC $ ( O/Q: rewrite those to what the decoder knows so the common characters survive. An escape
 * directly followed by another one (what joining RFC 2047 words produces) is an error for WHATWG
 * and would show as U+FFFD, so the first is dropped.
 */
function normaliseJis(bytes: Uint8Array): Uint8Array {
  // Two passes over the input, no `number[]` copy (a 45 MB body used to peak at 1.4 GB): the first finds
  // the output length, or that nothing changes (most mail), the second writes into one exact buffer.
  const size = jisRewrite(bytes);
  if (size < 0) return bytes;
  const out = new Uint8Array(size);
  jisRewrite(bytes, out);
  return out;
}

/** Without `out`: the rewritten length, or -1 when the bytes need no rewrite. With it: writes them. */
function jisRewrite(bytes: Uint8Array, out?: Uint8Array): number {
  let n = 0;
  let changed = false;
  const put = (...b: number[]): void => {
    if (out) out.set(b, n);
    n += b.length;
  };
  // Only ESC, SO and SI are ever rewritten: runs between them are copied (or counted) whole.
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c !== 0x1b && c !== 0x0e && c !== 0x0f) {
      let k = i + 1;
      while (k < bytes.length && bytes[k] !== 0x1b && bytes[k] !== 0x0e && bytes[k] !== 0x0f) k++;
      if (out) out.set(bytes.subarray(i, k), n);
      n += k - i;
      i = k - 1;
      continue;
    }
    const len = escapeLength(bytes, i);
    if (len > 0 && escapeLength(bytes, i + len) > 0) {
      changed = true;
      i += len - 1;
    } else if (c === 0x0e) {
      changed = true;
      put(0x1b, 0x28, 0x49);
    } else if (c === 0x0f) {
      changed = true;
      put(0x1b, 0x28, 0x42);
    } else if (len === 4 && (bytes[i + 3] === 0x4f || bytes[i + 3] === 0x51)) {
      changed = true;
      put(0x1b, 0x24, 0x42);
      i += 3;
    } else put(c);
  }
  return out || changed ? n : -1;
}

/**
 * How much a decoded text looks like real CJK prose: kana, kanji, hangul and fullwidth punctuation
 * count for; halfwidth katakana soup, private-use, replacement and C1 control characters against.
 */
export function plausibility(text: string): number {
  let good = 0;
  let bad = 0;
  let total = 0;
  let kana = 0;
  let run = 0;
  let longestRun = 0;
  let inWord = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      if (run > 0 && isLetter(c)) inWord++;
      run = 0;
      continue;
    }
    if (run === 0 && i > 0 && isLetter(text.charCodeAt(i - 1))) inWord++;
    total++;
    longestRun = Math.max(longestRun, ++run);
    if ((c >= 0x3000 && c <= 0x30ff) || (c >= 0xff01 && c <= 0xff5e) || (c >= 0xac00 && c <= 0xd7af)) kana++;
    if (
      (c >= 0x3040 && c <= 0x30ff) ||
      (c >= 0x4e00 && c <= 0x9fff) ||
      (c >= 0x3000 && c <= 0x303f) ||
      (c >= 0xff01 && c <= 0xff5e) ||
      (c >= 0xac00 && c <= 0xd7af) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0x2460 && c <= 0x24ff) ||
      (c >= 0x3200 && c <= 0x33ff) ||
      (c >= 0x2160 && c <= 0x217f)
    )
      good++;
    else if ((c >= 0xff61 && c <= 0xff9f) || (c >= 0xe000 && c <= 0xf8ff) || c === 0xfffd || (c >= 0x80 && c < 0xa0)) bad += 2;
  }
  if (total === 0) return 0;
  // Latin-1 words read as Shift_JIS become single rare kanji inside Latin words (Formação →
  // Forma鈬o); real Japanese or Korean has kana, punctuation or hangul, runs of kanji, or at
  // least kanji that stand apart from Latin letters (山田 太郎).
  const latinLike = kana === 0 && longestRun < 3 && inWord > 0;
  return ((good - bad) / total) * (latinLike ? 0.3 : 1);
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

export interface DecodedText {
  text: string;
  charset: string;
  labelLied: boolean;
}

function result(text: string, charset: string, label: string): DecodedText {
  const lied = label !== '' && decoderName(label) !== decoderName(charset) && !(label === 'us-ascii' && charset === 'us-ascii');
  return { text, charset, labelLied: lied };
}

const SINGLE_BYTE = /^(windows-125\d|iso-8859-\d+|koi8-[ru]|macintosh|us-ascii|ibm866|x-mac-cyrillic)$/;

/** Decode bytes to a JS string. `label` is the declared charset (may lie, may be missing, may be an alias). Never throws. */
export function decodeText(bytes: Uint8Array, label?: string): DecodedText {
  const canon = normaliseLabel(label);
  const known = canon === '' ? undefined : decoderName(canon);
  const ascii = allAscii(bytes);

  if (ascii && (hasJisEscape(bytes) || canon === 'iso-2022-jp')) {
    const jis = normaliseJis(bytes);
    return result(tryDecode(jis, 'iso-2022-jp', true) ?? tryDecode(jis, 'iso-2022-jp', false) ?? '', 'iso-2022-jp', canon);
  }
  if (ascii) {
    // Pure ASCII decodes the same in every ASCII-compatible charset: keep the label, it did not lie.
    const asciiSafe = known !== undefined && !/^utf-16/.test(known) && known !== 'replacement';
    return { text: Buffer.from(bytes).toString('latin1'), charset: asciiSafe ? canon : 'us-ascii', labelLied: false };
  }

  const utf8 = tryDecode(bytes, 'utf-8', true);
  if (known !== undefined) {
    const asLabel = tryDecode(bytes, known, true);
    if (asLabel !== undefined) {
      if (known === 'utf-8' || /^utf-16/.test(known)) return result(asLabel, canon, canon);
      if (utf8 !== undefined) return result(utf8, 'utf-8', canon);
      if (SINGLE_BYTE.test(canon) || known.startsWith('windows-125') || known.startsWith('iso-8859')) {
        const jp = bestJapanese(bytes);
        if (jp && jp.score > 0.5) return result(jp.text, jp.charset, canon);
        return result(asLabel, canon, canon);
      }
      // A multibyte CJK label: keep it unless a Japanese reading is clearly more plausible.
      const own = plausibility(asLabel);
      const jp = bestJapanese(bytes);
      if (jp && jp.charset !== known && jp.score > own + 0.3) return result(jp.text, jp.charset, canon);
      return result(asLabel, canon, canon);
    }
  }
  if (utf8 !== undefined) return result(utf8, 'utf-8', canon);
  const jp = bestJapanese(bytes);
  if (jp && jp.score > 0.5) return result(jp.text, jp.charset, canon);
  // Nothing decodes cleanly: the label read lossily, then a lossy Japanese reading, then windows-1252.
  if (known !== undefined) {
    const t = tryDecode(bytes, known, false);
    if (t !== undefined && replacements(t) * 20 < bytes.length) return result(t, canon, canon);
  }
  for (const cs of ['shift_jis', 'euc-jp']) {
    const t = tryDecode(bytes, cs, false);
    if (t !== undefined && replacements(t) * 20 < bytes.length && plausibility(t) > 0.5) return result(t, cs, canon);
  }
  return result(tryDecode(bytes, 'windows-1252', false) ?? '', 'windows-1252', canon);
}

function replacements(t: string): number {
  let n = 0;
  for (let i = t.indexOf('\ufffd'); i >= 0; i = t.indexOf('\ufffd', i + 1)) n++;
  return n;
}

function bestJapanese(bytes: Uint8Array): { text: string; charset: string; score: number } | undefined {
  let best: { text: string; charset: string; score: number } | undefined;
  for (const cs of ['shift_jis', 'euc-jp']) {
    const t = tryDecode(bytes, cs, true);
    if (t === undefined) continue;
    const score = plausibility(t);
    if (!best || score > best.score) best = { text: t, charset: cs, score };
  }
  return best;
}
