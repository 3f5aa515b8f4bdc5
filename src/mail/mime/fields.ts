/** Date and message-id fields: only values we can re-emit cleanly survive. */
import { stripControls } from './headers.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const STRICT_DATE =
  /^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2})(?::(\d{2}))? ([+-]\d{4})$/;

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** An RFC 5322 date; the original offset is kept when the value is already well-formed. */
export function normaliseDate(bin: string | undefined): string | undefined {
  if (!bin) return undefined;
  const v = stripControls(bin)
    .slice(0, 200)
    .replace(/\([^()]*\)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const m = STRICT_DATE.exec(v);
  if (m) {
    const [, , d, mon, y, hh, mm, ss, zone] = m;
    const date = new Date(Date.UTC(Number(y), MONTHS.indexOf(mon!), Number(d), Number(hh), Number(mm), Number(ss ?? 0)));
    if (Number(hh) < 24 && Number(mm) < 60 && Number(ss ?? 0) < 61 && date.getUTCDate() === Number(d)) {
      return `${DAYS[date.getUTCDay()]}, ${Number(d)} ${mon} ${y} ${hh}:${mm}:${ss ?? '00'} ${zone}`;
    }
  }
  const t = Date.parse(v.replace(/ (UT|GMT|JST)$/i, (z) => (z.trim().toUpperCase() === 'JST' ? ' +0900' : ' +0000')));
  if (!Number.isFinite(t)) return undefined;
  const date = new Date(t);
  const year = date.getUTCFullYear();
  if (year < 1970 || year > 2200) return undefined;
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${year} ${two(date.getUTCHours())}:${two(
    date.getUTCMinutes(),
  )}:${two(date.getUTCSeconds())} +0000`;
}

const ID = /<([^<>\s"(),;:\\@]{1,200}@[^<>\s"(),;:\\@]{1,200})>/g;
const MAX_IDS = 50;

/** Well-formed `<local@domain>` ids in a field, in order, duplicates removed. */
export function messageIds(bin: string | undefined): string[] {
  if (!bin) return [];
  const ids: string[] = [];
  const v = bin.slice(0, 32 * 1024);
  ID.lastIndex = 0;
  for (let m = ID.exec(v); m; m = ID.exec(v)) {
    if (/[^\x21-\x7e]/.test(m[1]!)) continue;
    const id = `<${m[1]}>`;
    if (!ids.includes(id)) ids.push(id);
  }
  // keep the thread root and the nearest ancestors, as RFC 5322 §3.6.4 suggests for long chains
  return ids.length > MAX_IDS ? [ids[0]!, ...ids.slice(ids.length - MAX_IDS + 1)] : ids;
}

/** The Message-ID; a bare `local@domain` (missing brackets) is accepted and bracketed. */
export function messageId(bin: string | undefined): string | undefined {
  const ids = messageIds(bin);
  if (ids[0]) return ids[0];
  const bare = (bin ?? '').trim();
  return messageIds(`<${bare}>`)[0];
}
