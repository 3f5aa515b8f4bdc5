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

/** Clean a decoded file name; '' when nothing usable is left. */
export function cleanFileName(name: string): string {
  let n = stripControls(name).replace(/\\/g, '/');
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
