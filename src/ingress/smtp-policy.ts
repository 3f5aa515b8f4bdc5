import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { MukaikaError } from '../errors.js';

/** Pure per-phase SMTP decisions: each returns nothing to accept or a catalogue error to refuse. */

export function peerAllowList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/') as [string, string];
    list.addSubnet(net, Number(bits), isIPv6(net) ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** Connect: only peers inside the allowed networks (IPv4-mapped IPv6 is checked as IPv4). */
export function checkPeer(allowed: BlockList, remoteAddress: string): MukaikaError | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress)?.[1];
  const addr = mapped ?? remoteAddress;
  const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
  if (family && allowed.check(addr, family)) return undefined;
  return new MukaikaError('PEER_NOT_ALLOWED', `peer ${remoteAddress} not allowed`);
}

/** Domain part of an address, lower-cased; undefined when there is none. */
export function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at < 1 || at === address.length - 1) return undefined;
  return address.slice(at + 1).toLowerCase().replace(/\.$/, '');
}

/** RCPT TO: only the accepted domains (exact match), never an open relay; bounded recipient count. */
export function checkRecipient(
  acceptDomains: readonly string[],
  maxRecipients: number,
  address: string,
  alreadyAccepted: number,
): MukaikaError | undefined {
  // Source routes, %-hacks and quoted local parts with @ are classic relay tricks: refuse them outright.
  // eslint-disable-next-line no-control-regex
  if (/[%!\s\x00-\x1f\x7f<>"\\]/.test(address) || address.startsWith('@') || address.split('@').length !== 2) {
    return new MukaikaError('RELAY_DENIED', `relay denied for ${address}`);
  }
  const domain = domainOf(address);
  if (!domain || !acceptDomains.includes(domain)) return new MukaikaError('RELAY_DENIED', `relay denied for ${address}`);
  if (alreadyAccepted >= maxRecipients) return new MukaikaError('TOO_MANY_RECIPIENTS');
  return undefined;
}

/** MAIL FROM: anything syntactically plausible (null sender allowed for bounces); refused while shutting down. */
export function checkSender(address: string, shuttingDown: boolean): MukaikaError | undefined {
  if (shuttingDown) return new MukaikaError('SHUTTING_DOWN');
  // eslint-disable-next-line no-control-regex
  if (address !== '' && !/^[^\s\x00-\x1f\x7f<>"\\]+@[^\s\x00-\x1f\x7f<>"\\@]+$/.test(address)) return new MukaikaError('BAD_SYNTAX', 'bad sender address');
  return undefined;
}
