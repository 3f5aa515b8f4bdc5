import MailComposer from 'nodemailer/lib/mail-composer';
import type { Config } from '../config/schema.js';
import { splitHeaderBlock } from '../mail/mime/headers.js';
import { parseHeaders } from '../mail/parse.js';
import type { RecipientResult } from './types.js';

/** Where notices of failed deliveries go: lgwan.postmaster, else postmaster@ the first accepted domain. */
export function postmasterOf(cfg: Config): string {
  return cfg.lgwan.postmaster || `postmaster@${cfg.smtp.acceptDomains[0]}`;
}

export interface FailedNotice {
  id: string;
  batch: number;
  /** The mail that failed (the sanitized mail we composed): only its decoded Subject and From are used. */
  mail: Buffer;
  failed: RecipientResult[];
}

/**
 * The notice to the LGWAN postmaster that a delivery failed for good (Japanese, then English). It names the
 * mail by Mukaika id, decoded Subject and From, and lists each recipient with the relay's reply; none of the
 * mail's content. `Auto-Submitted` (RFC 3834) so that no responder answers it; the notice's own failure is
 * logged and never noticed again (deliver.ts).
 */
export async function postmasterNotice(cfg: Config, n: FailedNotice): Promise<Buffer> {
  const h = parseHeaders(splitHeaderBlock(n.mail).fields);
  const subject = h.subject || '(件名なし / no subject)';
  const from = h.from.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ') || '(なし / none)';
  const lines = n.failed.map((r) => `  ${r.recipient}: ${oneLine(r.response)}`);
  const what = n.batch === 0 ? '' : `(追送 ${n.batch} / follow-up ${n.batch})`;
  const text = [
    '無害化ゲートウェイ(Mukaika)から LGWAN 側メールサーバーへの配送が、次の宛先で失敗しました。',
    `再配送するには: mukaika redeliver ${n.id}`,
    '',
    'Mukaika could not deliver a mail into LGWAN for the recipients below.',
    `To deliver it again: mukaika redeliver ${n.id}`,
    '',
    `Mukaika ID: ${n.id} ${what}`.trimEnd(),
    `件名 / Subject: ${subject}`,
    `差出人 / From: ${from}`,
    '宛先と応答 / Recipients and replies:',
    ...lines,
    '',
  ].join('\n');
  const mail = new MailComposer({
    from: cfg.lgwan.noticeFrom,
    to: postmasterOf(cfg),
    subject: `【配送失敗 / Delivery failed】${subject}`,
    messageId: `<${n.id}.failed${n.batch}.${Date.now()}@${cfg.hostname}>`,
    headers: { 'Auto-Submitted': 'auto-generated', 'X-Mukaika-Notice-For': n.id },
    text,
    newline: '\r\n',
  });
  return mail.compile().build();
}

/** Replies can span lines (multi-line SMTP replies); one line per recipient in the notice. */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 500);
}
