/** Types shared by the MIME parser and body selection (kept apart so neither imports the other). */
import type { EncodedBlock } from './body/encoded.js';
import type { LinkMode } from './body/links.js';
import type { MailAddress } from './mime/addresses.js';

export type { MailAddress };

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

export interface ParsedAttachment {
  name: string;
  declaredType: string;
  bytes: Buffer;
  inline: boolean;
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
