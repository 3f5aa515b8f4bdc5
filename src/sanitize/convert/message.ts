import type { PartManifest } from '../../domain/manifest.js';
import type { EncodedBlock } from '../../mail/body/encoded.js';
import { safeText } from '../../mail/body/safe-text.js';
import { sha256 } from '../hash.js';
import { parseMail } from '../../mail/parse.js';
import type { PartResult, SanitizeContext } from '../types.js';

const fmt = (as: { name: string; address: string }[]) => as.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');

/** A manifest entry for an inline-encoded file cut from the attached mail's text. */
function encodedEntry(b: EncodedBlock): PartManifest {
  return {
    name: b.name || `(${b.kind})`, declaredType: `text/x-${b.kind}`, detectedType: `text/x-${b.kind}`, size: b.size ?? 0,
    sha256: b.sha256 ?? '', action: 'removed', reason: 'ENCODED_BINARY',
  };
}

/**
 * A mail attached to a mail becomes a text file: its decoded headers and its body as text (encoded files cut
 * and links neutralised, like the outer body; the headers and the list of names too). Its own attachments
 * are listed and removed, never carried inside the text: the original stays held on the Internet side.
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
  // The body was made safe by parseMail; headers and names are the sender's too, so the whole text goes
  // through the funnel (markers already in the body are found again, without their hashes: those come from
  // parseMail).
  const safe = safeText(`${lines.join('\n').replace(/\r\n?/g, '\n')}\n`, s.links);
  entries.push(...[...(mail.body.encoded ?? []), ...safe.encoded.filter((b) => b.sha256 !== undefined)].map(encodedEntry));
  const text = safe.text;
  // An attached mail cut by the MIME limits is held like a top-level one: what was past the cut is listed nowhere else.
  if (mail.truncated) {
    entries.push({ name: '(添付メールの構造)', declaredType: 'message/rfc822', detectedType: 'message/rfc822', size: bytes.length, sha256: sha256(bytes), action: 'held', reason: 'MIME_LIMIT' });
  }
  return {
    detectedType: 'message/rfc822', action: 'text', reason: 'MESSAGE_TO_TEXT',
    output: { name: `${baseName}.txt`, type: 'text/plain; charset=utf-8', bytes: Buffer.from(text, 'utf8') },
    ...(entries.length ? { entries } : {}),
  };
}
