import { htmlToPlainText, MAX_HTML_CHARS } from '../../mail/body/html.js';
import { guardTextOutput } from '../../mail/body/safe-text.js';
import { decodeText } from '../../mail/mime/charset.js';
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

/** Where a table was cut: rows past `maxRows`, cells past `maxColumns` in some row. */
export interface TableCaps {
  maxRows: number;
  maxColumns: number;
}

const NO_CAPS: TableCaps = { maxRows: Infinity, maxColumns: Infinity };

/**
 * RFC 4180 parse (quotes, doubled quotes, newlines inside quotes), tolerant of malformed quoting, one row at a
 * time: memory is one row, not one array per row of the file (30 MB of empty rows used to be 30 million
 * arrays, and the worker died of heap exhaustion). Cells past `maxColumns` are parsed but not kept; the
 * caller stops asking after `maxRows`. Runs of plain characters are sliced, not appended one by one.
 */
export function* delimitedRows(text: string, delimiter: string, maxColumns = Infinity): Generator<{ cells: string[]; cut: boolean }> {
  const d = delimiter.charCodeAt(0);
  const n = text.length;
  let row: string[] = [];
  let cut = false;
  let cell = '';
  let quoted = false;
  const push = (c: string): void => {
    if (row.length < maxColumns) row.push(c);
    else cut = true;
  };
  let i = 0;
  while (i < n) {
    if (quoted) {
      const q = text.indexOf('"', i);
      if (q < 0) {
        cell += text.slice(i);
        i = n;
      } else if (text.charCodeAt(q + 1) === 0x22) {
        cell += text.slice(i, q + 1);
        i = q + 2;
      } else {
        cell += text.slice(i, q);
        quoted = false;
        i = q + 1;
      }
      continue;
    }
    const ch = text.charCodeAt(i);
    if (ch === 0x22 && cell === '') {
      quoted = true;
      i++;
    } else if (ch === d) {
      push(cell);
      cell = '';
      i++;
    } else if (ch === 0x0a || ch === 0x0d) {
      i += ch === 0x0d && text.charCodeAt(i + 1) === 0x0a ? 2 : 1;
      push(cell);
      yield { cells: row, cut };
      row = [];
      cut = false;
      cell = '';
    } else {
      let k = i + 1;
      for (; k < n; k++) {
        const c = text.charCodeAt(k);
        if (c === d || c === 0x0a || c === 0x0d || c === 0x22) break;
      }
      cell += text.slice(i, k);
      i = k;
    }
  }
  if (cell !== '' || row.length > 0) {
    push(cell);
    yield { cells: row, cut };
  }
}

/** The whole table as arrays (small inputs and tests; converters use `delimitedRows`). */
export function parseDelimited(text: string, delimiter: string): string[][] {
  return Array.from(delimitedRows(text, delimiter), (r) => r.cells);
}

function serialiseCell(cell: string, delimiter: string): string {
  return cell.includes(delimiter) || /["\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** Output is collected in chunks of about this many characters, so no giant rope of row strings. */
const CHUNK_CHARS = 1 << 16;

/**
 * Neutralise every cell and hand each rewritten row (CRLF-terminated) to `write`. Rows past `caps.maxRows`
 * and cells past `caps.maxColumns` are dropped and reported, so the caller can say so.
 */
export function neutraliseDelimitedRows(
  text: string,
  delimiter: ',' | '\t',
  caps: TableCaps,
  write: (line: string) => void,
): { cellsChanged: number; rows: number; rowsCut: boolean; columnsCut: boolean } {
  let cellsChanged = 0;
  let rows = 0;
  let columnsCut = false;
  let rowsCut = false;
  for (const r of delimitedRows(text.replace(/^\ufeff/, ''), delimiter, caps.maxColumns)) {
    if (rows >= caps.maxRows) {
      rowsCut = true;
      break;
    }
    rows++;
    if (r.cut) columnsCut = true;
    let line = '';
    for (let c = 0; c < r.cells.length; c++) {
      const n = neutraliseCell(r.cells[c]!);
      if (n.changed) cellsChanged++;
      line += (c > 0 ? delimiter : '') + serialiseCell(n.cell, delimiter);
    }
    write(line + '\r\n');
  }
  return { cellsChanged, rows, rowsCut, columnsCut };
}

/** Neutralise every cell and write the table back with CRLF rows. */
export function neutraliseDelimited(text: string, delimiter: ',' | '\t'): { text: string; cellsChanged: number } {
  const lines: string[] = [];
  const r = neutraliseDelimitedRows(text, delimiter, NO_CAPS, (line) => lines.push(line));
  return { text: lines.join(''), cellsChanged: r.cellsChanged };
}

export type TextKind = 'text' | 'csv' | 'tsv' | 'html';

/** Every text this converter writes is encoded here (tables chunk by chunk, at row ends): one funnel. */
function utf8Output(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/**
 * Decode text-like attachments to UTF-8 and rebuild them: plain text as .txt, CSV/TSV with formula cells
 * neutralised (BOM, CRLF), HTML converted to text like a mail body (links neutralised per config).
 * The output is always new bytes encoded from a JS string, never the input. Time and memory are linear in
 * the input: tables are rewritten row by row and cut at `limits.csvRows` / `limits.csvColumns`, HTML is cut
 * at MAX_HTML_CHARS before conversion, and a cut is reported (ROW_LIMIT, TEXT_LIMIT) rather than hidden.
 */
export function convertText(untrustedBytes: Buffer, kind: TextKind, ctx: SanitizeContext, baseName: string, declaredCharset?: string): PartResult {
  // The single point where the output text is final: encoded files cut, links neutralised (safe-text.ts).
  return guardTextOutput(buildText(untrustedBytes, kind, ctx, baseName, declaredCharset), kind, ctx.config.sanitize.links);
}

function buildText(untrustedBytes: Buffer, kind: TextKind, ctx: SanitizeContext, baseName: string, declaredCharset?: string): PartResult {
  const { text } = decodeText(untrustedBytes, declaredCharset);
  const body = text.replace(/^\ufeff/, '').replace(/\0/g, '');
  if (kind === 'csv' || kind === 'tsv') {
    const l = ctx.config.sanitize.limits;
    const delimiter = kind === 'csv' ? ',' : '\t';
    const chunks: Buffer[] = [utf8Output(BOM)];
    let pending = '';
    // Rows are handed out one at a time and written in chunks, so only the output is held, never a table.
    const n = neutraliseDelimitedRows(body, delimiter, { maxRows: l.csvRows, maxColumns: l.csvColumns }, (line) => {
      pending += line;
      if (pending.length >= CHUNK_CHARS) {
        chunks.push(utf8Output(pending));
        pending = '';
      }
    });
    chunks.push(utf8Output(pending));
    const cut = n.rowsCut || n.columnsCut;
    const type = kind === 'csv' ? 'text/csv' : 'text/tab-separated-values';
    return {
      detectedType: type,
      action: 'text',
      reason: cut ? 'ROW_LIMIT' : 'CSV_NEUTRALISED',
      output: { name: `${baseName}.${kind}`, type: `${type}; charset=utf-8`, bytes: Buffer.concat(chunks) },
    };
  }
  if (kind === 'html') {
    const cut = body.length > MAX_HTML_CHARS;
    const h = htmlToPlainText(cut ? body.slice(0, MAX_HTML_CHARS) : body, ctx.config.sanitize.links);
    return {
      detectedType: 'text/html',
      action: 'text',
      reason: cut ? 'TEXT_LIMIT' : 'HTML_TO_TEXT',
      output: { name: `${baseName}.txt`, type: 'text/plain; charset=utf-8', bytes: utf8Output(h.text) },
    };
  }
  return {
    detectedType: 'text/plain',
    action: 'text',
    reason: 'TEXT_DECODED',
    output: { name: `${baseName}.txt`, type: 'text/plain; charset=utf-8', bytes: utf8Output(body) },
  };
}
