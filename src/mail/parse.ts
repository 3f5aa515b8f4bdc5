/** parseMail: raw RFC 5322 bytes → decoded headers, body text and attachments. Never throws. */
import { selectBody } from './body/select.js';
import { parseAddressList } from './mime/addresses.js';
import { messageId, messageIds, normaliseDate } from './mime/fields.js';
import { decodeUnstructured, getHeader, parseStructured, type HeaderField } from './mime/headers.js';
import { parseTree } from './mime/tree.js';
import type { ParsedHeaders, ParsedMail, ParseOptions } from './types.js';

export type { MailAddress, ParsedAttachment, ParsedBody, ParsedHeaders, ParsedMail, ParseOptions } from './types.js';

export function parseHeaders(fields: HeaderField[]): ParsedHeaders {
  const h = (name: string): string | undefined => getHeader(fields, name);
  // raw 8-bit header bytes are most likely in the charset the sender used for the body
  const cs = parseStructured(h('content-type')).params.charset;
  const inReplyTo = messageIds(h('in-reply-to')).join(' ');
  const references = messageIds(h('references')).join(' ');
  const headers: ParsedHeaders = {
    from: parseAddressList(h('from'), cs),
    to: parseAddressList(h('to'), cs),
    cc: parseAddressList(h('cc'), cs),
    replyTo: parseAddressList(h('reply-to'), cs),
    subject: decodeUnstructured(h('subject'), cs),
  };
  const date = normaliseDate(h('date'));
  const id = messageId(h('message-id'));
  if (date) headers.date = date;
  if (id) headers.messageId = id;
  if (inReplyTo) headers.inReplyTo = inReplyTo;
  if (references) headers.references = references;
  return headers;
}

function emptyMail(): ParsedMail {
  return {
    headers: { from: [], to: [], cc: [], replyTo: [], subject: '' },
    body: { text: '', from: 'none', charset: 'us-ascii', linksNeutralised: 0 },
    attachments: [],
    truncated: true,
  };
}

export function parseMail(raw: Buffer, opts: ParseOptions): ParsedMail {
  try {
    const { root, truncated: treeCut } = parseTree(raw, opts.maxDepth, opts.maxParts);
    const headers = parseHeaders(root.fields);
    const sel = selectBody(root, opts.links);
    let text = sel.segments
      .map((s) => s.text.replace(/^\n+|\s+$/g, ''))
      .filter((t) => t.length > 0)
      .join('\n\n');
    let truncated = treeCut || sel.truncated;
    if (text.length > opts.maxBodyChars) {
      text = text.slice(0, opts.maxBodyChars);
      // never leave half a surrogate pair behind
      if (/[\ud800-\udbff]$/.test(text)) text = text.slice(0, -1);
      truncated = true;
    }
    const first = sel.segments[0];
    const encoded = sel.segments.flatMap((s) => s.encoded);
    return {
      headers,
      body: {
        text,
        from: first ? first.kind : 'none',
        charset: first ? first.charset : 'us-ascii',
        ...(first?.declaredCharset ? { declaredCharset: first.declaredCharset } : {}),
        linksNeutralised: sel.segments.reduce((n, s) => n + s.links, 0),
        ...(encoded.length ? { encoded } : {}),
      },
      attachments: sel.attachments,
      truncated,
    };
  } catch {
    // A bug here must not let anything through: the pipeline sees an empty, truncated mail.
    return emptyMail();
  }
}
