/**
 * The one funnel for text we write into LGWAN (docs/RELIABILITY.md, "Text we write"): inline-encoded files
 * are cut first (so link neutralising cannot alter an encoded line and hide the rest of its block), then
 * every link form is neutralised, including any in the markers' file names.
 */
import type { PartResult } from '../../sanitize/types.js';
import { cutEncodedBlocks, type EncodedBlock } from './encoded.js';
import { neutraliseLinks, type LinkMode } from './links.js';

export interface SafeText {
  text: string;
  linksNeutralised: number;
  encoded: EncodedBlock[];
}

/**
 * Plain text for the reader: one line-end style, no control characters, no BOM. Runs BEFORE safeText, never
 * after: removing a control character after the funnel can join a link (`evil.c\x01om`) or an encoded block
 * back together.
 */
export function cleanBodyText(text: string): string {
  return (
    text
      .replace(/\r\n?/g, '\n')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufeff\u202a-\u202e\u2066-\u2069]/g, '')
  );
}

/** Idempotent: safeText(safeText(x).text) gives the same text and reports the same blocks again. */
export function safeText(text: string, mode: LinkMode): SafeText {
  const cut = cutEncodedBlocks(text);
  const links = neutraliseLinks(cut.text, mode);
  return { text: links.text, linksNeutralised: links.count, encoded: cut.blocks };
}

/**
 * A text attachment's output (our own UTF-8, BOM kept) through safeText. When a block was cut the reason
 * says so (ENCODED_BINARY; the marker in the text names it). A spreadsheet cell must keep its first
 * character, so CSV/TSV are always neutralised, never stripped or cut: either could leave a cell that
 * starts with `=`.
 */
export function guardTextOutput(res: PartResult, kind: 'text' | 'csv' | 'tsv' | 'html', mode: LinkMode): PartResult {
  if (!res.output) return res;
  const decoded = res.output.bytes.toString('utf8');
  const bom = decoded.startsWith('\ufeff') ? '\ufeff' : '';
  const safe = safeText(decoded.slice(bom.length), kind === 'csv' || kind === 'tsv' ? 'neutralise' : mode);
  return {
    ...res,
    // A cut of the converter's own (rows or characters past the limit) keeps its reason: the data lost there
    // is said nowhere else, while a cut block is named by its marker line in the text.
    ...(safe.encoded.length && res.reason !== 'ROW_LIMIT' && res.reason !== 'TEXT_LIMIT' ? { reason: 'ENCODED_BINARY' as const } : {}),
    output: { ...res.output, bytes: Buffer.from(bom + safe.text, 'utf8') },
  };
}
