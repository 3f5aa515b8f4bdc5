import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { canonicalDomains, parseMailbox, type LocalPartCase } from '../domain/mailbox.js';
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

/** What RCPT and the API's `to=` are checked against, built once from the config. */
export interface RecipientPolicy {
  acceptDomains: ReadonlySet<string>;
  maxRecipients: number;
  localPartCase: LocalPartCase;
}

export function recipientPolicy(smtp: { acceptDomains: readonly string[]; maxRecipients: number; localPartCase: LocalPartCase }): RecipientPolicy {
  return { acceptDomains: canonicalDomains(smtp.acceptDomains), maxRecipients: smtp.maxRecipients, localPartCase: smtp.localPartCase };
}

/**
 * RCPT TO: a strict mailbox (501 5.1.3 otherwise) in an accepted domain (550 5.7.1: never an open relay),
 * within the recipient limit. Returns the canonical address to store; `accepted` holds the canonical
 * addresses taken so far in this transaction. One already among them, in any case, is the same recipient:
 * taken again without counting, under the spelling first given (smtp-server itself keeps one entry per
 * case-insensitive address, and one recipient must not get the mail twice).
 */
export function checkRecipient(policy: RecipientPolicy, address: string, accepted: readonly string[]): MukaikaError | string {
  const mailbox = parseMailbox(address, policy.localPartCase);
  if (!mailbox) return new MukaikaError('BAD_RECIPIENT_ADDRESS', `bad recipient ${JSON.stringify(address.slice(0, 300))}`);
  if (!policy.acceptDomains.has(mailbox.domain)) return new MukaikaError('RELAY_DENIED', `relay denied for ${mailbox.address}`);
  const key = mailbox.address.toLowerCase();
  const same = accepted.find((a) => a.toLowerCase() === key);
  if (same !== undefined) return same;
  if (accepted.length >= policy.maxRecipients) return new MukaikaError('TOO_MANY_RECIPIENTS');
  return mailbox.address;
}

/**
 * MAIL FROM: the null sender (bounces) or a strict mailbox, whose local part keeps its case (it is not
 * ours to fold); refused while shutting down. Returns the canonical sender.
 */
export function checkSender(address: string, shuttingDown: boolean): MukaikaError | string {
  if (shuttingDown) return new MukaikaError('SHUTTING_DOWN');
  if (address === '') return '';
  const mailbox = parseMailbox(address, 'preserve');
  return mailbox ? mailbox.address : new MukaikaError('BAD_SENDER_ADDRESS', `bad sender ${JSON.stringify(address.slice(0, 300))}`);
}
