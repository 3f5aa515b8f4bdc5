import { domainToASCII } from 'node:url';

/**
 * The one strict RFC 5321 `Mailbox` parser, used by SMTP (MAIL/RCPT) and the HTTP API (from=/to=). An
 * address is parsed once at intake and stored in canonical form; nothing later re-parses it (a lenient
 * re-parse by the relay's address parser is how one RCPT with commas became dozens, some unqualified).
 *
 * Accepted: Dot-string or Quoted-string local part, ASCII only (SMTPUTF8 is not offered), at most 64
 * octets; a domain of LDH labels (IDN U-labels are converted to their punycode A-labels, which is what
 * is stored and compared); at most 254 octets in all. Refused beyond RFC 5321, because downstream MTAs
 * still honour them as relay tricks: `%`, `!` and `@` in the local part, quoted or not, and address
 * literals (`[192.0.2.1]`), which can never be one of our domains; and quoted local parts that the relay's
 * SMTP client would send as another mailbox (`<`, `>`, a space at either end).
 */

export interface Mailbox {
  /** Canonical local part: unquoted when it is a Dot-string, otherwise quoted with minimal escapes. */
  local: string;
  /** Lower-case ASCII (A-label) domain. */
  domain: string;
  /** `local@domain`: what is stored, compared and handed to the relay. */
  address: string;
}

export type LocalPartCase = 'preserve' | 'lower';

const ATOM = /^[A-Za-z0-9#$&'*+/=?^_`{|}~-]+$/;
const RELAY_TRICKS = /[%!@]/;
/** Quoted-string content the relay path does not carry unchanged: angle brackets, leading or trailing space. */
const UNCARRIED = /[<>]|^ | $/;
const MAX_LOCAL = 64;
const MAX_ADDRESS = 254;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function isDotString(s: string): boolean {
  return s.length > 0 && s.split('.').every((atom) => ATOM.test(atom));
}

/** Content of a Quoted-string (without quotes, escapes resolved), or undefined when it is not one. */
function unquote(s: string): string | undefined {
  if (s.length < 2 || !s.startsWith('"') || !s.endsWith('"')) return undefined;
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) {
      // quoted-pairSMTP: backslash then any printable ASCII or space
      const n = s.charCodeAt(++i);
      if (i >= s.length - 1 || n < 0x20 || n > 0x7e) return undefined;
      out += s[i];
    } else if (c === 0x22 || c < 0x20 || c > 0x7e) {
      return undefined;
    } else {
      out += s[i];
    }
  }
  return out;
}

function canonicalLocal(raw: string, localCase: LocalPartCase): string | undefined {
  let content: string;
  if (raw.startsWith('"')) {
    const q = unquote(raw);
    if (q === undefined) return undefined;
    content = q;
  } else {
    if (!isDotString(raw)) return undefined;
    content = raw;
  }
  if (RELAY_TRICKS.test(content)) return undefined;
  // Legal in a Quoted-string, but the relay's SMTP client rewrites them (`"a<b"` and `" a"` went out as
  // `"a b"` and `a`): another mailbox than the one stored, whose delivery report then never matched.
  if (UNCARRIED.test(content)) return undefined;
  if (localCase === 'lower') content = content.toLowerCase();
  // RFC 5321 §4.1.2: a quoted form that a Dot-string could spell is the same mailbox; store one spelling.
  return isDotString(content) ? content : `"${content.replace(/["\\]/g, '\\$&')}"`;
}

function canonicalDomain(raw: string): string | undefined {
  // Checked before conversion: domainToASCII would quietly drop or map some characters.
  // eslint-disable-next-line no-control-regex
  if (raw === '' || /[\x00-\x20\x7f[\]()<>,;:\\"@%!]/.test(raw) || raw.endsWith('.') || raw.startsWith('.')) return undefined;
  const ascii = /^[\x21-\x7e]+$/.test(raw) ? raw.toLowerCase() : domainToASCII(raw);
  if (!ascii || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return undefined;
  return ascii;
}

/** The local part / domain split: the last `@` outside a quoted local part. */
function split(input: string): [string, string] | undefined {
  const at = input.lastIndexOf('@');
  if (at < 1) return undefined;
  return [input.slice(0, at), input.slice(at + 1)];
}

/** The canonical mailbox, or undefined when `input` is not a strict RFC 5321 Mailbox we take. */
export function parseMailbox(input: string, localCase: LocalPartCase = 'preserve'): Mailbox | undefined {
  if (input.length > MAX_ADDRESS * 4) return undefined;
  const parts = split(input);
  if (!parts) return undefined;
  const [rawLocal, rawDomain] = parts;
  if (Buffer.byteLength(rawLocal) > MAX_LOCAL) return undefined;
  const local = canonicalLocal(rawLocal, localCase);
  const domain = canonicalDomain(rawDomain);
  if (local === undefined || domain === undefined || local.length > MAX_LOCAL) return undefined;
  const address = `${local}@${domain}`;
  if (address.length > MAX_ADDRESS) return undefined;
  return { local, domain, address };
}

/** The accepted-domain list in the form `parseMailbox` produces (A-labels, lower case). */
export function canonicalDomains(domains: readonly string[]): Set<string> {
  return new Set(domains.map((d) => canonicalDomain(d.replace(/\.$/, '')) ?? d.toLowerCase()));
}

/**
 * Splits a comma-separated list of mailboxes (the API's `to=`), commas inside a quoted local part
 * included in the address. Empty items are dropped.
 */
export function splitMailboxList(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quoted && ch === '\\' && i + 1 < s.length) {
      cur += ch + s[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out.filter(Boolean);
}
