/**
 * An independent "would a mail client make this clickable?" matcher for tests: linkify-it with every fuzzy
 * option on (the matcher markdown-it and many webmail clients use), plus what it does not cover but Outlook,
 * Thunderbird, Becky! or Windows open: other schemes (file:, smb:, news:, javascript:, ms-…:), backslash
 * URLs, UNC paths and www./ftp. prefixes. Text is NFKC-normalised first, invisible characters dropped and
 * 。 read as a dot, so full-width and disguised forms count. Bare e-mail addresses are reported apart.
 */
import LinkifyIt from 'linkify-it';

const linkify = new LinkifyIt({}, { fuzzyLink: true, fuzzyEmail: true, fuzzyIP: true });

export function normaliseForMatch(text: string): string {
  let out = '';
  for (const ch of text) {
    if (/\p{Default_Ignorable_Code_Point}/u.test(ch)) continue;
    const n = ch.normalize('NFKC');
    out += n === '\u3002' ? '.' : n === '\u00a5' ? '\\' : n;
  }
  return out;
}

const SCHEMES = [
  'https?', 'ftps?', 'sftp', 'file', 'smb', 'cifs', 'ldaps?', 'ssh', 'telnet', 'ircs?', 's?news', 'nntp', 'gopher', 'mailto',
  'javascript', 'vbscript', 'data', 'ms-[a-z-]+', 'search-ms', 'wss?', 'webcal', 'callto', 'sip', 'onenote', 'outlook',
].join('|');
const EXTRA: [string, RegExp][] = [
  ['scheme', new RegExp(`(?<![A-Za-z0-9+.-])(?:${SCHEMES}):(?=[/\\\\A-Za-z0-9%])`, 'giu')],
  // any name:// opens a registered handler; hxxp:// and its kin are the agreed defanged forms (the default of `body.links`, config/default.yaml)
  ['any-scheme-slashes', /(?<![A-Za-z0-9+.-])(?!(?:hxxps?|s?fxps?|wxss?):)[A-Za-z][A-Za-z0-9+.-]+:[/\\]{2}(?=[\p{L}\p{N}])/giu],
  ['unc', /(?<!\\)\\\\[\p{L}\p{N}?.]/gu],
  ['www', /(?<![\p{L}\p{N}.-])(?:www|ftp)\.[\p{L}\p{N}-]/giu],
];

export interface Clickable {
  links: string[];
  emails: string[];
}

/** Every link-like match in `text` (after normalisation); bare e-mail addresses separately. */
export function clickable(text: string): Clickable {
  const t = normaliseForMatch(text);
  const links: string[] = [];
  const emails: string[] = [];
  for (const m of linkify.match(t) ?? []) {
    if (m.schema === 'mailto:' && !/^mailto:/i.test(m.raw)) emails.push(m.raw);
    else links.push(m.raw);
  }
  for (const [name, re] of EXTRA) for (const m of t.matchAll(re)) links.push(`${name}:${m[0]}`);
  return { links, emails };
}
