import type { PartManifest } from '../../domain/manifest.js';
import { sha256 } from '../hash.js';
import { parseMail } from '../mime/parse.js';
import type { PartResult, SanitizeContext } from '../types.js';

const fmt = (as: { name: string; address: string }[]) => as.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');

/**
 * A mail attached to a mail becomes a text file: its decoded headers and its body as text (links
 * neutralised, like the outer body). Its own attachments are listed and removed, never carried inside the
 * text: the original stays held on the Internet side.
 */
export function messageToText(bytes: Buffer, ctx: SanitizeContext, baseName: string): PartResult {
  const s = ctx.config.sanitize;
  const mail = parseMail(bytes, { maxDepth: s.maxMimeDepth, maxParts: s.maxMimeParts, maxBodyChars: s.maxBodyChars, links: s.links });
  const h = mail.headers;
  const lines = [
    `From: ${fmt(h.from)}`, `To: ${fmt(h.to)}`, ...(h.cc.length ? [`Cc: ${fmt(h.cc)}`] : []),
    ...(h.date ? [`Date: ${h.date}`] : []), `Subject: ${h.subject}`, '',
    mail.body.text,
  ];
  const entries: PartManifest[] = mail.attachments.map((a) => ({
    name: a.name, declaredType: a.declaredType, detectedType: 'application/octet-stream', size: a.bytes.length,
    sha256: sha256(a.bytes), action: 'removed', reason: 'NESTED_IN_MESSAGE',
  }));
  if (entries.length) lines.push('', '---- 添付ファイル(削除済み) ----', ...entries.map((e) => `・${e.name}`));
  const text = `${lines.join('\n').replace(/\r\n?/g, '\n')}\n`;
  return {
    detectedType: 'message/rfc822', action: 'text', reason: 'MESSAGE_TO_TEXT',
    output: { name: `${baseName}.txt`, type: 'text/plain; charset=utf-8', bytes: Buffer.from(text, 'utf8') },
    ...(entries.length ? { entries } : {}),
  };
}
