/** Address lists from hostile headers: groups, comments, RFC 2047 names (also inside quotes), raw 8-bit. */
import { decodeWords, stripControls } from './headers.js';
import { hasInvisible, headerText } from './names.js';

export interface MailAddress {
  name: string;
  address: string;
}

const MAX_ADDRESSES = 500;
/** Loose on purpose (real mail has odd local parts), strict enough that nothing can inject. */
// eslint-disable-next-line no-control-regex
const ADDRESS = /^[^\s\x00-\x1f\x7f@<>()[\],;:"\\]{1,64}@[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9.\u0080-\uffff-]{0,252})$/;

/** Split on commas outside quotes, angle brackets and comments; group syntax `name: a, b;` is flattened. */
function splitList(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  let comment = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quoted) {
      if (ch === '\\' && i + 1 < s.length) {
        cur += ch + s[++i];
        continue;
      }
      if (ch === '"') quoted = false;
      cur += ch;
      continue;
    }
    if (comment > 0) {
      if (ch === '(') comment++;
      else if (ch === ')') comment--;
      cur += ch;
      continue;
    }
    if (ch === '"') quoted = true;
    else if (ch === '(') comment = 1;
    else if (ch === '<') angle = true;
    else if (ch === '>') angle = false;
    else if (!angle && (ch === ',' || ch === ';')) {
      out.push(cur);
      cur = '';
      continue;
    } else if (!angle && ch === ':') {
      // group name: what came before is a label, not an address
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out;
}

function cleanName(bin: string, rawCharset?: string): string {
  let t = bin.trim();
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) t = t.slice(1, -1).replace(/\\(.)/g, '$1');
  else t = t.replace(/"/g, '');
  return headerText(stripControls(decodeWords(t, rawCharset))).replace(/\s{2,}/g, ' ').trim();
}

function cleanAddress(s: string): string {
  return s.replace(/^mailto:/i, '').replace(/[\s"]/g, '').replace(/^<|>$/g, '');
}

/** Parse an address header value (a binary string). Entries without a usable address are dropped. */
export function parseAddressList(bin: string | undefined, rawCharset?: string): MailAddress[] {
  if (!bin) return [];
  const result: MailAddress[] = [];
  for (const piece of splitList(bin.replace(/[\r\n]/g, ' '))) {
    if (result.length >= MAX_ADDRESSES) break;
    const p = piece.trim();
    if (!p) continue;
    let name = '';
    let address = '';
    const lt = p.lastIndexOf('<');
    const gt = p.indexOf('>', lt);
    if (lt >= 0) {
      address = cleanAddress(p.slice(lt + 1, gt < 0 ? undefined : gt));
      name = cleanName(p.slice(0, lt), rawCharset);
    } else {
      const open = p.indexOf('(');
      const close = p.lastIndexOf(')');
      if (open >= 0 && close > open) {
        name = cleanName(p.slice(open + 1, close), rawCharset);
        address = cleanAddress(p.slice(0, open) + p.slice(close + 1));
      } else address = cleanAddress(p);
    }
    // an address with 8-bit bytes is kept only if it decodes (SMTPUTF8 mail)
    if (/[\u0080-\u00ff]/.test(address)) address = decodeWords(address);
    if (ADDRESS.test(address) && !hasInvisible(address)) result.push({ name, address });
  }
  return result;
}
