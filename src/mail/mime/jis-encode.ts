/**
 * ISO-2022-JP encoding for forwarded mail. The table is the inverse of the WHATWG decoder
 * (JIS X 0208 plus NEC row 13 and the NEC-selected IBM extensions, i.e. what CP50220 writes), so
 * every character we encode decodes back to itself in our parser and in common clients.
 */

let table: Map<number, number> | undefined;

/**
 * Characters Unicode has twice where the WHATWG table knows one form (the classic JIS/CP932
 * mapping split): encode them to the JIS cell readers show the same glyph for. They come back as
 * the table's form (— as ―, 〜 as ～), which is what Japanese clients display anyway.
 */
const COMPAT: [number, number][] = [
  [0x2014, 0x213d], // EM DASH → the dash cell (decodes as U+2015)
  [0x301c, 0x2141], // WAVE DASH → FULLWIDTH TILDE cell
  [0x2016, 0x2142], // DOUBLE VERTICAL LINE → PARALLEL TO cell
  [0x2212, 0x215d], // MINUS SIGN → FULLWIDTH HYPHEN-MINUS cell
  [0x00a2, 0x2171], // CENT SIGN
  [0x00a3, 0x2172], // POUND SIGN
  [0x00ac, 0x224c], // NOT SIGN
];

function jisTable(): Map<number, number> {
  if (table) return table;
  const bytes: number[] = [0x1b, 0x24, 0x42];
  for (let row = 0x21; row <= 0x7e; row++) for (let col = 0x21; col <= 0x7e; col++) bytes.push(row, col);
  bytes.push(0x1b, 0x28, 0x42);
  const text = new TextDecoder('iso-2022-jp').decode(Uint8Array.from(bytes));
  const map = new Map<number, number>();
  let k = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const jis = ((0x21 + Math.floor(k / 94)) << 8) | (0x21 + (k % 94));
    // first occurrence wins: the standard row, not the NEC/IBM duplicate
    if (code !== 0xfffd && !map.has(code)) map.set(code, jis);
    k++;
  }
  for (const [code, jis] of COMPAT) if (!map.has(code)) map.set(code, jis);
  table = map;
  return map;
}

/** ISO-2022-JP bytes for `text`, or undefined when a character has no JIS X 0208 code. */
export function encodeIso2022Jp(text: string): Buffer | undefined {
  const map = jisTable();
  const out: number[] = [];
  let kanji = false;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x80 && code !== 0x1b && code !== 0x0e && code !== 0x0f) {
      if (kanji) out.push(0x1b, 0x28, 0x42);
      kanji = false;
      out.push(code);
      continue;
    }
    const jis = map.get(code);
    if (jis === undefined) return undefined;
    if (!kanji) out.push(0x1b, 0x24, 0x42);
    kanji = true;
    out.push(jis >> 8, jis & 0xff);
  }
  if (kanji) out.push(0x1b, 0x28, 0x42);
  return Buffer.from(out);
}

/** Whether every character of `text` can go out as ISO-2022-JP. */
export function fitsIso2022Jp(text: string): boolean {
  return encodeIso2022Jp(text) !== undefined;
}
