/**
 * Which parts are the body and which are attachments (docs/DESIGN.md §5): alternatives prefer non-empty
 * text/plain, mixed parts append further inline text, everything else is an attachment, including the
 * files inside alternatives that were not chosen.
 */
import { decodeText } from '../mime/charset.js';
import { decodeTransfer } from '../mime/transfer.js';
import type { MimePart, ParsedAttachment } from '../mime/tree.js';
import { attachmentName } from '../mime/names.js';
import type { EncodedBlock } from './encoded.js';
import { htmlToPlainText, MAX_HTML_CHARS } from './html.js';
import type { LinkMode } from './links.js';
import { cleanBodyText, safeText } from './safe-text.js';

export interface BodySegment {
  kind: 'text' | 'html';
  text: string;
  charset: string;
  declaredCharset?: string;
  links: number;
  /** Inline-encoded files cut from this segment (each replaced by a marker line). */
  encoded: EncodedBlock[];
}

export interface Selection {
  segments: BodySegment[];
  attachments: ParsedAttachment[];
  truncated: boolean;
}


function isTextBody(part: MimePart): boolean {
  if (part.type !== 'text/plain' && part.type !== 'text/html') return false;
  if (part.disposition === 'attachment') return false;
  return !part.dispParams.filename && !part.params.name;
}

function metaCharset(bytes: Buffer): string | undefined {
  const head = bytes.toString('latin1', 0, Math.min(bytes.length, 4096));
  return /<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})/i.exec(head)?.[1];
}

class Selector {
  readonly segments: BodySegment[] = [];
  readonly attachments: ParsedAttachment[] = [];
  truncated = false;
  constructor(private readonly links: LinkMode) {}

  decode(part: MimePart): BodySegment {
    const bytes = decodeTransfer(part.body, part.cte);
    const declared = part.params.charset?.trim() || undefined;
    const label = declared ?? (part.type === 'text/html' ? metaCharset(bytes) : undefined);
    const decoded = decodeText(bytes, label);
    const base = { charset: decoded.charset, ...(declared ? { declaredCharset: declared } : {}) };
    if (part.type === 'text/html') {
      let html = decoded.text;
      if (html.length > MAX_HTML_CHARS) {
        html = html.slice(0, MAX_HTML_CHARS);
        this.truncated = true;
      }
      const r = htmlToPlainText(html, this.links);
      return { kind: 'html', text: r.text, links: r.linksNeutralised, encoded: r.encoded, ...base };
    }
    // Plain text is cut at the same bound before the line and link passes copy it (a 45 MB body would be
    // copied several times only to be cut to maxBodyChars afterwards).
    let text = decoded.text;
    if (text.length > MAX_HTML_CHARS) {
      text = text.slice(0, MAX_HTML_CHARS);
      this.truncated = true;
    }
    const r = safeText(cleanBodyText(text), this.links);
    return { kind: 'text', text: r.text, links: r.linksNeutralised, encoded: r.encoded, ...base };
  }

  attach(part: MimePart): void {
    const bytes = decodeTransfer(part.body, part.cte);
    const n = this.attachments.length + 1;
    const inline = part.disposition === 'inline' || (part.disposition === '' && part.fields.some((f) => f.name === 'content-id'));
    this.attachments.push({ name: this.unique(attachmentName(part, n)), declaredType: part.type, bytes: Buffer.from(bytes), inline });
  }

  /** Names double as file names in the web view and the forwarded mail, so they must not collide. */
  unique(name: string): string {
    const taken = new Set(this.attachments.map((a) => a.name.toLowerCase()));
    if (!taken.has(name.toLowerCase())) return name;
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    for (let k = 2; ; k++) if (!taken.has(`${stem}-${k}${ext}`.toLowerCase())) return `${stem}-${k}${ext}`;
  }

  walk(part: MimePart): void {
    if (part.type === 'multipart/alternative') this.alternative(part);
    else if (part.type.startsWith('multipart/')) part.children.forEach((c) => this.walk(c));
    else if (isTextBody(part)) this.segments.push(this.decode(part));
    else this.attach(part);
  }

  alternative(part: MimePart): void {
    let chosen: MimePart | undefined;
    for (const kid of part.children) {
      if (kid.type === 'text/plain' && isTextBody(kid)) {
        const seg = this.decode(kid);
        if (seg.text.trim()) {
          this.segments.push(seg);
          chosen = kid;
          break;
        }
      }
    }
    if (!chosen) {
      // The richest alternative is the last one (RFC 2046 §5.1.4); attachments inside it still count.
      const rich = [...part.children].reverse().find((k) => k.type === 'text/html' || k.type.startsWith('multipart/'));
      chosen = rich ?? part.children[part.children.length - 1];
      if (chosen) this.walk(chosen);
    }
    // The branches not shown still carry the sender's files (images the HTML shows by cid:, a file attached
    // inside the HTML branch, a calendar invite): each becomes an attachment part, so none vanishes unlisted.
    for (const kid of part.children) if (kid !== chosen) this.unshown(kid);
  }

  /** Every leaf of an alternative not chosen as the body, except the other renditions of the body text. */
  unshown(part: MimePart): void {
    if (part.type.startsWith('multipart/')) part.children.forEach((c) => this.unshown(c));
    else if (!isTextBody(part)) this.attach(part);
  }
}

/** Split a MIME tree into body segments (decoded, links neutralised) and attachments. */
export function selectBody(root: MimePart, links: LinkMode): Selection {
  const s = new Selector(links);
  s.walk(root);
  return { segments: s.segments, attachments: s.attachments, truncated: s.truncated };
}
