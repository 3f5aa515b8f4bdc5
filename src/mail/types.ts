/**
 * The parsed mail as src/mail/parse.ts returns it. mime/ never imports body/ (body/ reads MIME parts), so the
 * types that name both live here, above the two folders (docs/DESIGN.md, zones).
 */
import type { EncodedBlock } from './body/encoded.js';
import type { LinkMode } from './body/links.js';
import type { MailAddress } from './mime/addresses.js';
import type { ParsedAttachment } from './mime/tree.js';

export type { MailAddress, ParsedAttachment };

export interface ParsedHeaders {
  from: MailAddress[];
  to: MailAddress[];
  cc: MailAddress[];
  replyTo: MailAddress[];
  /** Decoded, CR/LF and control chars removed. */
  subject: string;
  /** A valid RFC 5322 date string, or undefined if unparseable. */
  date?: string;
  /** "<…>" form or undefined. */
  messageId?: string;
  /** Only well-formed <…> ids kept, space-separated. */
  inReplyTo?: string;
  references?: string;
}

export interface ParsedBody {
  text: string;
  from: 'text' | 'html' | 'none';
  charset: string;
  declaredCharset?: string;
  linksNeutralised: number;
  /** Inline-encoded files cut from the body (docs/RELIABILITY.md, "Text we write"); absent when none. */
  encoded?: EncodedBlock[];
}

export interface ParsedMail {
  headers: ParsedHeaders;
  body: ParsedBody;
  attachments: ParsedAttachment[];
  /** True when MIME depth/part limits or maxBodyChars cut something; the pipeline records it. */
  truncated: boolean;
}

export interface ParseOptions {
  maxDepth: number;
  maxParts: number;
  maxBodyChars: number;
  links: LinkMode;
}
