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

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail included), or undefined if it is not one. */
function ipv6Groups(addr: string): number[] | undefined {
  if (isIP(addr) !== 6) return undefined;
  let a = addr.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head = '', tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16));
}

/**
 * Networks wide enough that much of the Internet may connect: wider than an IPv4 /8, IPv4-mapped IPv6
 * included (`::ffff:0:0/96` is every IPv4 host, and is checked as such), or wider than an IPv6 /16.
 */
export function isVeryWide(cidr: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return false;
  const bits = Number(m[2]);
  if (isIP(m[1]!) === 4) return bits < 8;
  const g = ipv6Groups(m[1]!);
  if (!g) return false;
  const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
  return mapped && bits >= 96 ? bits - 96 < 8 : bits < 16;
}
