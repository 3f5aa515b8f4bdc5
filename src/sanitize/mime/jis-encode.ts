/**
 * ISO-2022-JP encoding for forwarded mail. The table is the inverse of the WHATWG decoder
 * (JIS X 0208 plus NEC row 13 and the NEC-selected IBM extensions, i.e. what CP50220 writes), so
 * every character we encode decodes back to itself in our parser and in common clients.
 */

let table: Map<number, number> | undefined;

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
