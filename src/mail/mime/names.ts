/** Attachment file names: decoded, no path, no control characters, never empty. */
import { stripControls } from './headers.js';
import type { MimePart } from './tree.js';

const EXTENSIONS: Record<string, string> = {
  'text/plain': '.txt',
  'text/html': '.html',
  'text/calendar': '.ics',
  'text/csv': '.csv',
  'message/rfc822': '.eml',
  'message/delivery-status': '.txt',
  'text/rfc822-headers': '.txt',
  'application/pdf': '.pdf',
  'application/zip': '.zip',
  'application/msword': '.doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': '.docx',
  'application/vnd.ms-excel': '.xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': '.xlsx',
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/gif': '.gif',
  'application/pkcs7-signature': '.p7s',
};

const MAX_NAME = 200;

// Line and paragraph separators (U+2028, U+2029, NEL, VT, FF) break lines in some clients and log viewers; format
// characters (bidi overrides and isolates, LRM/RLM/ALM, zero-width, interlinear) hide or reorder text,
// e.g. a name that shows as "exe.txt"; lone surrogates have no encoding. None belongs in a header or name.
const SEPARATORS = /[\p{Zl}\p{Zp}\u0085\v\f]/gu;
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}]/gu;

/** Text for a header or a file name: separators become spaces, control and format characters go. */
export function headerText(s: string): string {
  return s.replace(/[\t\r\n]/g, ' ').replace(SEPARATORS, ' ').replace(INVISIBLE, '');
}

/** True when `s` holds a character `headerText` would change (an address must not: it is dropped). */
export function hasInvisible(s: string): boolean {
  return /[\p{Zl}\p{Zp}\p{Cc}\p{Cf}\p{Cs}]/u.test(s);
}

/** Clean a decoded file name; '' when nothing usable is left. */
export function cleanFileName(name: string): string {
  let n = headerText(stripControls(name)).replace(/\\/g, '/');
  n = n.slice(n.lastIndexOf('/') + 1);
  // characters Windows refuses in names, and leading dots/spaces that hide or confuse
  n = n.replace(/[:*?"<>|]/g, '_').replace(/^[\s.]+/, '').replace(/[\s.]+$/, '').trim();
  if (n.length > MAX_NAME) {
    const dot = n.lastIndexOf('.');
    const ext = dot > 0 && n.length - dot <= 10 ? n.slice(dot) : '';
    n = Array.from(n).slice(0, MAX_NAME - ext.length).join('') + ext;
  }
  return n;
}

/** The name an attachment is shown and stored under; `n` numbers unnamed parts. */
export function attachmentName(part: MimePart, n: number): string {
  const declared = part.dispParams.filename ?? part.params.name ?? '';
  const clean = cleanFileName(declared);
  if (clean) return clean;
  if (part.type === 'message/rfc822') return 'message.eml';
  return `attachment-${n}${EXTENSIONS[part.type] ?? '.bin'}`;
}
