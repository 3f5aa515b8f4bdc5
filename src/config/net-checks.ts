import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/** Pure checks of network values in the configuration, used by the schema so a bad value names its key. */

/** `address/bits` with a real IPv4 (bits 0–32) or IPv6 (bits 0–128) address; `1.2.3.4/99` is not one. */
export function isCidr(v: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
  if (!m) return false;
  const family = isIP(m[1]!);
  const bits = Number(m[2]);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

/** An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 253 characters at most. */
export function isHostName(v: string): boolean {
  if (v.length === 0 || v.length > 253) return false;
  return v.replace(/\.$/, '').split('.').every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
}

/** What a listener may bind to: an IP address (`0.0.0.0` and `::` included) or a host name. */
export function isListenHost(v: string): boolean {
  return isIP(v) !== 0 || isHostName(v);
}

/**
 * A recipient domain we accept mail for: a host name with at least two labels, no wildcard. An IDN
 * (U-labels) is judged by its A-labels, the form recipients are matched in (domain/mailbox.ts).
 */
export function isMailDomain(v: string): boolean {
  const ascii = /^[\x21-\x7e]*$/.test(v) ? v : domainToASCII(v);
  return isHostName(ascii) && ascii.replace(/\.$/, '').includes('.');
}

/** Networks that contain every address of their family: an SMTP listener open to the whole Internet. */
export function isWholeInternet(cidr: string): boolean {
  return /\/0$/.test(cidr);
}
