/** The Japanese notice block at the top of every forwarded body (docs/DESIGN.md §5, manifest and notice). */
import type { Config } from '../config/schema.js';
import type { PartAction, Verdict } from '../domain/manifest.js';
import { REASONS, type ReasonCode } from '../domain/reasons.js';
import type { EncodedBlock } from './body/encoded.js';
import { neutraliseLinks } from './body/links.js';
import { composeMail, type ComposeInput } from './compose.js';
import type { ParsedHeaders } from './types.js';

export interface NoticeItem {
  name: string;
  action: PartAction;
  reason: ReasonCode;
  /** Web view link for this part (LGWAN side, so not neutralised). */
  url?: string;
  /** 0 for an attachment, +1 per archive level: nested entries are indented. @defaultValue 0 */
  depth?: number;
}

const VERB: Record<PartAction, string> = {
  flattened: '変換',
  reencoded: '変換',
  converted: '変換',
  text: '変換',
  removed: '削除',
  held: '保留',
};

export const NOTICE_SEPARATOR = '─'.repeat(40);

function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').trim();
}

function itemLines(items: NoticeItem[]): string[] {
  const lines: string[] = [];
  for (const item of items) {
    const indent = '  '.repeat(Math.max(0, Math.min(item.depth ?? 0, 10)));
    // Names come from the sender (file names, archive entries): never clickable, whatever the link mode.
    const name = neutraliseLinks(oneLine(item.name), 'neutralise').text;
    lines.push(`${indent}・${name || '(名前なし)'} — ${VERB[item.action]}: ${REASONS[item.reason] ?? item.reason}`);
    if (item.url) lines.push(`${indent}  ${oneLine(item.url)}`);
  }
  return lines;
}

/** One notice line per inline-encoded file cut from the body: 「・invoice.exe(本文中のuuencode) — 削除: …」. */
export function encodedBlockItems(blocks: EncodedBlock[], where = '本文'): NoticeItem[] {
  return blocks.map((b) => ({ name: `${b.name || '(名前なし)'}(${where}中の${b.kind})`, action: 'removed', reason: 'ENCODED_BINARY' }));
}

/**
 * Header line, one line per item 「・見積書.pdf — 変換: PDFを画像化して再構成しました」 plus its url, then a
 * separator line. A `{items}` placeholder in the header places the items there instead of after it.
 * Ends with a newline so the body can follow directly.
 */
export function renderNotice(header: string, items: NoticeItem[]): string {
  const lines = itemLines(items);
  const head = header.replace(/\r\n?/g, '\n').trimEnd();
  const block = head.includes('{items}') ? head.replace('{items}', lines.join('\n')) : [head, ...lines].filter((l) => l !== '').join('\n');
  return `${block}\n${NOTICE_SEPARATOR}\n`;
}

/** What one notice mail says: its items, the text after the notice block, what it carries. */
export interface NoticeMail {
  /** The mail's own id (the record id, or `<id>-u<batch>` for an unlock follow-up). */
  id: string;
  headers: ParsedHeaders;
  items: NoticeItem[];
  /** Text after the notice block: the sanitized body, or the one sentence saying why there is none. */
  body: string;
  attachments: ComposeInput['attachments'];
  verdict: Verdict;
}

/**
 * The one builder of every mail that goes into LGWAN: the sanitized mail, the notice-only mail of a message
 * that could not be sanitized (give-up), and the unlock follow-up. All share the configured notice header
 * and its layout, so they cannot drift apart.
 */
export async function buildNoticeMail(config: Config, m: NoticeMail): Promise<Buffer> {
  const text = `${renderNotice(config.sanitize.noticeHeader, m.items)}${m.body}`;
  return composeMail({
    id: m.id, hostname: config.hostname, headers: m.headers, text, attachments: m.attachments,
    charset: config.sanitize.outputCharset, verdict: m.verdict,
  });
}
