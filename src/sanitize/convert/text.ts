import { htmlToPlainText } from '../body/html.js';
import { guardTextOutput } from '../body/safe-text.js';
import { decodeText } from '../mime/charset.js';
import type { PartResult, SanitizeContext } from '../types.js';

/** Excel in Japan opens UTF-8 CSV correctly only with a BOM (without it: Shift_JIS, i.e. 文字化け). */
const BOM = '\ufeff';

/**
 * Characters that make a spreadsheet cell a formula or DDE call (OWASP CSV injection), including the
 * full-width forms that Japanese IMEs produce and some spreadsheet apps normalise.
 */
const FORMULA_START = /^[=+\-@\uff1d\uff0b\uff0d\uff20]/;
/** Plain numbers stay numbers: "-5" and "+81" are data, not formulas, and a quote would turn them into text. */
const PLAIN_NUMBER = /^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$/;

/** The cell as a spreadsheet would see it, with the `'` prefix when it could start a formula. */
export function neutraliseCell(cell: string): { cell: string; changed: boolean } {
  // Tab and CR at the very start are themselves an injection vector (OWASP); leading spaces and quotes are
  // skipped by some importers before they look for `=`.
  if (/^[\t\r]/.test(cell)) return { cell: `'${cell}`, changed: true };
  const probe = cell.replace(/^[\s"'\u3000]+/, '');
  if (FORMULA_START.test(probe) && !PLAIN_NUMBER.test(probe.trim())) return { cell: `'${cell}`, changed: true };
  return { cell, changed: false };
}

/** RFC 4180 parse (quotes, doubled quotes, newlines inside quotes), tolerant of malformed quoting. */
export function parseDelimited(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === delimiter) {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

function serialiseCell(cell: string, delimiter: string): string {
  return cell.includes(delimiter) || /["\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** Neutralise every cell and write the table back with CRLF rows. */
export function neutraliseDelimited(text: string, delimiter: ',' | '\t'): { text: string; cellsChanged: number } {
  let cellsChanged = 0;
  const rows = parseDelimited(text.replace(/^\ufeff/, ''), delimiter).map((r) =>
    r
      .map((c) => {
        const n = neutraliseCell(c);
        if (n.changed) cellsChanged++;
        return serialiseCell(n.cell, delimiter);
      })
      .join(delimiter),
  );
  return { text: rows.join('\r\n') + (rows.length ? '\r\n' : ''), cellsChanged };
}

export type TextKind = 'text' | 'csv' | 'tsv' | 'html';

/**
 * Decode text-like attachments to UTF-8 and rebuild them: plain text as .txt, CSV/TSV with formula cells
 * neutralised (BOM, CRLF), HTML converted to text like a mail body (links neutralised per config).
 * The output is always new bytes encoded from a JS string, never the input.
 */
export function convertText(untrustedBytes: Buffer, kind: TextKind, ctx: SanitizeContext, baseName: string, declaredCharset?: string): PartResult {
  // The single point where the output text is final: encoded files cut, links neutralised (safe-text.ts).
  return guardTextOutput(buildText(untrustedBytes, kind, ctx, baseName, declaredCharset), kind, ctx.config.sanitize.links);
}

function buildText(untrustedBytes: Buffer, kind: TextKind, ctx: SanitizeContext, baseName: string, declaredCharset?: string): PartResult {
  const { text } = decodeText(untrustedBytes, declaredCharset);
  const body = text.replace(/^\ufeff/, '').replace(/\0/g, '');
  if (kind === 'csv' || kind === 'tsv') {
    const n = neutraliseDelimited(body, kind === 'csv' ? ',' : '\t');
    const type = kind === 'csv' ? 'text/csv' : 'text/tab-separated-values';
    return {
      detectedType: type,
      action: 'text',
      reason: 'CSV_NEUTRALISED',
      output: { name: `${baseName}.${kind}`, type: `${type}; charset=utf-8`, bytes: Buffer.from(BOM + n.text, 'utf8') },
    };
  }
  if (kind === 'html') {
    const h = htmlToPlainText(body, ctx.config.sanitize.links);
    return {
      detectedType: 'text/html',
      action: 'text',
      reason: 'HTML_TO_TEXT',
      output: { name: `${baseName}.txt`, type: 'text/plain; charset=utf-8', bytes: Buffer.from(h.text, 'utf8') },
    };
  }
  return {
    detectedType: 'text/plain',
    action: 'text',
    reason: 'TEXT_DECODED',
    output: { name: `${baseName}.txt`, type: 'text/plain; charset=utf-8', bytes: Buffer.from(body, 'utf8') },
  };
}
