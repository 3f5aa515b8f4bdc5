/**
 * The mail that crosses into LGWAN: newly built from decoded headers, the text we produced and
 * the sanitizer's outputs. Nothing of the original message is copied byte for byte.
 */
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Verdict } from '../domain/manifest.js';
import { encodeIso2022Jp } from './mime/jis-encode.js';
import { hasInvisible, headerText } from './mime/names.js';
import type { MailAddress, ParsedHeaders } from './types.js';

export interface ComposeInput {
  id: string;
  hostname: string;
  headers: ParsedHeaders;
  /** Already includes the notice. */
  text: string;
  attachments: { name: string; type: string; bytes: Buffer }[];
  charset: 'utf-8' | 'iso-2022-jp';
  verdict: Verdict;
}

/** An encoded word is at most 75 chars; "=?ISO-2022-JP?B?" + "?=" leave 57 base64 chars = 42 bytes. */
const MAX_WORD_BYTES = 42;
const MAX_LINE_BYTES = 998;

/**
 * Subject as RFC 2047 ISO-2022-JP words, each a complete escape sequence (returns to ASCII), folded
 * one word per line. Undefined when a character has no ISO-2022-JP code.
 */
export function encodeSubjectIso2022Jp(subject: string): string | undefined {
  if (encodeIso2022Jp(subject) === undefined) return undefined;
  const words: string[] = [];
  let chunk = '';
  for (const ch of subject) {
    const next = encodeIso2022Jp(chunk + ch)!;
    if (next.length > MAX_WORD_BYTES && chunk) {
      words.push(chunk);
      chunk = ch;
    } else chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?ISO-2022-JP?B?${encodeIso2022Jp(w)!.toString('base64')}?=`).join('\r\n ');
}

/** ISO-2022-JP body bytes with CRLF line ends, or undefined when the text does not fit the charset. */
function iso2022JpBody(text: string): { bytes: Buffer; cte: '7bit' | 'base64' } | undefined {
  const bytes = encodeIso2022Jp(text.replace(/\r\n?|\n/g, '\r\n'));
  if (!bytes) return undefined;
  // 7bit needs lines of at most 998 octets; a longer line goes out in base64 so the text stays exact
  let start = 0;
  for (let i = bytes.indexOf(0x0a); ; i = bytes.indexOf(0x0a, i + 1)) {
    const end = i < 0 ? bytes.length : i;
    if (end - start > MAX_LINE_BYTES) return { bytes, cte: 'base64' };
    if (i < 0) break;
    start = i + 1;
  }
  return { bytes, cte: '7bit' };
}

type Node = ReturnType<InstanceType<typeof MailComposer>['compile']>;

/**
 * nodemailer re-chooses the transfer encoding of every text node and treats ESC as binary, so it
 * would send ISO-2022-JP as quoted-printable; Japanese clients expect 7bit. The bytes are already
 * 7-bit with short CRLF lines, so the text node is told to pass them through.
 */
function forceTransferEncoding(node: Node, cte: string): void {
  const ct = String(node.getHeader('Content-Type') ?? '').toLowerCase();
  if (ct.startsWith('text/plain') && ct.includes('iso-2022-jp')) {
    (node as unknown as { getTransferEncoding: () => string }).getTransferEncoding = () => cte;
  }
  for (const child of (node as unknown as { childNodes?: Node[] }).childNodes ?? []) forceTransferEncoding(child, cte);
}

// The last check before bytes cross into LGWAN, whatever built the headers (the parser, the unlock
// follow-up, a notice): no line separator or invisible format character in a header or a file name.
function addresses(list: MailAddress[]): { name: string; address: string }[] | undefined {
  const clean = list.filter((a) => !hasInvisible(a.address)).map((a) => ({ name: headerText(a.name).trim(), address: a.address }));
  return clean.length ? clean : undefined;
}

/** Message-ID local parts from our ids: nothing that could break the header. */
function idPart(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '') || 'mukaika';
}

/**
 * RFC 5322 bytes (CRLF). Keeps From, To, Cc, Reply-To, Subject, Date, In-Reply-To, References;
 * new Message-ID <id@hostname>; X-Mukaika-Id, X-Mukaika-Verdict, X-Mukaika-Original-Message-Id.
 * With iso-2022-jp: Subject and body in ISO-2022-JP, each falling back to UTF-8 when a character
 * cannot be represented.
 */
export async function composeMail(input: ComposeInput): Promise<Buffer> {
  const h = input.headers;
  const subject = headerText(h.subject);
  const custom: Record<string, string | { prepared: true; value: string }> = {
    'X-Mukaika-Id': idPart(input.id),
    'X-Mukaika-Verdict': input.verdict,
  };
  if (h.messageId) custom['X-Mukaika-Original-Message-Id'] = h.messageId;

  const mail: ConstructorParameters<typeof MailComposer>[0] = {
    from: addresses(h.from),
    to: addresses(h.to),
    cc: addresses(h.cc),
    replyTo: addresses(h.replyTo),
    messageId: `<${idPart(input.id)}@${idPart(input.hostname)}>`,
    headers: custom,
    attachments: input.attachments.map((a) => ({ filename: headerText(a.name), content: a.bytes, contentType: a.type })),
    newline: '\r\n',
  };
  if (h.date) mail.date = h.date;
  if (h.inReplyTo) mail.inReplyTo = h.inReplyTo;
  if (h.references) mail.references = h.references;

  const jisSubject = input.charset === 'iso-2022-jp' && /[^\x20-\x7e]/.test(subject) ? encodeSubjectIso2022Jp(subject) : undefined;
  if (jisSubject) custom.Subject = { prepared: true, value: jisSubject };
  else mail.subject = subject;

  const jisBody = input.charset === 'iso-2022-jp' ? iso2022JpBody(input.text) : undefined;
  if (jisBody) {
    mail.alternatives = [{ content: jisBody.bytes, contentType: 'text/plain; charset=ISO-2022-JP', contentTransferEncoding: jisBody.cte }];
  } else {
    mail.text = input.text.replace(/\r\n?/g, '\n');
  }
  const root = new MailComposer(mail).compile();
  if (jisBody) forceTransferEncoding(root, jisBody.cte);
  return root.build();
}
