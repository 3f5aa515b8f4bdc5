/** HTML mail → readable plain text: structure kept as lines, nothing executable or hidden kept. */
import { convert, type FormatCallback, type HtmlToTextOptions } from 'html-to-text';
import type { EncodedBlock } from './encoded.js';
import type { LinkMode } from './links.js';
import { cleanBodyText, safeText } from './safe-text.js';

/** HTML bigger than this (characters) is cut before conversion: the converter's time and memory grow with it. */
export const MAX_HTML_CHARS = 4_000_000;
/** Tags kept for the converter's DOM; a long newsletter has some 20 000. */
const MAX_TAGS = 200_000;
/** html-to-text walks the DOM recursively; deeper nesting than this is flattened before it parses. */
const MAX_NESTING = 120;
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr', 'keygen']);
/** Elements whose next sibling of the same name closes them (HTML's implied end tags). */
const IMPLIED_END = new Set(['p', 'li', 'td', 'th', 'tr', 'option', 'dt', 'dd', 'tbody', 'thead', 'tfoot']);

/**
 * Drop start and end tags that would nest deeper than MAX_NESTING (the text between them is kept).
 * Linear: one pass with indexOf, the open-element stack is bounded, and the next `>` is searched for once
 * and remembered, not again from every `<` (a body of `< < < … >` made that quadratic: 91 s for 3.9 MB).
 * Tags past `maxTags` are dropped too: the converter's DOM costs a few hundred bytes per element (4 MB of
 * `<p>x` took 700 MB), and past that point the text matters more than its layout.
 */
export function flattenDeepNesting(html: string, limit = MAX_NESTING, maxTags = MAX_TAGS): string {
  const stack: string[] = [];
  let kept = 0;
  const dropped = new Map<string, number>();
  const out: string[] = [];
  let last = 0;
  let i = 0;
  // Lower-cased once, lazily: per tag it would make a page of <script/> quadratic.
  let lower: string | undefined;
  const nextEnd = new Map<string, number>();
  let gt = -1;
  while ((i = html.indexOf('<', i)) >= 0) {
    if (gt <= i) gt = html.indexOf('>', i + 1);
    const j = gt;
    if (j < 0) break;
    const m = /^(\/?)([A-Za-z][A-Za-z0-9:-]{0,30})/.exec(html.slice(i + 1, i + 34));
    if (!m) {
      i++;
      continue;
    }
    const name = m[2]!.toLowerCase();
    let drop = false;
    // Script and style elements are dropped whole here (they never reach the text), up to their end tag or,
    // as HTML parses an unclosed one, to the end. The next end tag's position is remembered so a page of
    // thousands of <script/> stays linear.
    if (m[1] !== '/' && (name === 'script' || name === 'style')) {
      lower ??= html.toLowerCase();
      let end = nextEnd.get(name);
      if (end === undefined || (end >= 0 && end < j)) {
        end = lower.indexOf('</' + name, j);
        nextEnd.set(name, end);
      }
      out.push(html.slice(last, i));
      const close = end < 0 ? -1 : html.indexOf('>', end);
      if (close < 0) {
        last = html.length;
        break;
      }
      last = i = close + 1;
      continue;
    }
    if (kept >= maxTags) drop = true;
    else if (m[1] !== '/') {
      if (!VOID.has(name) && html[j - 1] !== '/') {
        if (IMPLIED_END.has(name) && stack[stack.length - 1] === name) stack.pop();
        if (stack.length >= limit) {
          drop = true;
          dropped.set(name, (dropped.get(name) ?? 0) + 1);
        } else stack.push(name);
      }
    } else {
      const d = dropped.get(name) ?? 0;
      if (d > 0) {
        drop = true;
        dropped.set(name, d - 1);
      } else {
        const k = stack.lastIndexOf(name);
        if (k >= 0) stack.length = k;
      }
    }
    if (drop) {
      out.push(html.slice(last, i));
      last = j + 1;
    } else kept++;
    i = j + 1;
  }
  if (last === 0 && out.length === 0) return html;
  out.push(html.slice(last));
  return out.join('');
}

const ALLOWED_HREF = /^(https?|ftps?|mailto):/i;

interface Sibling {
  type: string;
  data?: string;
  prev?: Sibling | null;
}

function tableCell(elem: Parameters<FormatCallback>[0], walk: Parameters<FormatCallback>[1], builder: Parameters<FormatCallback>[2]): void {
  let prev = (elem as unknown as Sibling).prev;
  while (prev && prev.type === 'text' && !(prev.data ?? '').trim()) prev = prev.prev;
  if (prev && prev.type === 'tag') builder.addInline(' | ', { noWordTransform: true });
  walk(elem.children, builder);
}

function tableRow(elem: Parameters<FormatCallback>[0], walk: Parameters<FormatCallback>[1], builder: Parameters<FormatCallback>[2]): void {
  builder.openBlock({ leadingLineBreaks: 1 });
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: 1 });
}

function imageAlt(elem: Parameters<FormatCallback>[0], _walk: Parameters<FormatCallback>[1], builder: Parameters<FormatCallback>[2]): void {
  const alt = (elem.attribs?.alt ?? '').trim();
  if (alt) builder.addInline(alt);
}

function options(mode: LinkMode, sourceLength: number): HtmlToTextOptions {
  return {
    wordwrap: false,
    preserveNewlines: false,
    decodeEntities: true,
    limits: { maxInputLength: sourceLength + 1, maxDepth: MAX_NESTING + 10, ellipsis: '' },
    formatters: { mukaikaCell: tableCell, mukaikaRow: tableRow, mukaikaImage: imageAlt },
    selectors: [
      {
        selector: 'a',
        options: {
          ignoreHref: mode === 'remove',
          hideLinkHrefIfSameAsText: true,
          linkBrackets: ['[', ']'],
          // javascript:, data: and relative targets mean nothing to the reader: show only the text
          // html-to-text passes the element as a third argument its types do not declare
          pathRewrite: ((path: string, _meta: unknown, elem?: { attribs?: Record<string, string> }) => {
            const original = (elem?.attribs?.href ?? '').trim();
            if (!ALLOWED_HREF.test(original)) return '';
            return /^mailto:/i.test(original) ? 'mailto:' + path : path;
          }) as (path: string, meta: unknown) => string,
        },
      },
      { selector: 'img', format: 'mukaikaImage' },
      { selector: 'table', format: 'block' },
      { selector: 'tr', format: 'mukaikaRow' },
      { selector: 'td', format: 'mukaikaCell' },
      { selector: 'th', format: 'mukaikaCell' },
      { selector: 'h1', options: { uppercase: false } },
      { selector: 'h2', options: { uppercase: false } },
      { selector: 'h3', options: { uppercase: false } },
      { selector: 'h4', options: { uppercase: false } },
      { selector: 'h5', options: { uppercase: false } },
      { selector: 'h6', options: { uppercase: false } },
      { selector: 'th', options: { uppercase: false } },
      { selector: 'head', format: 'skip' },
      { selector: 'script', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'template', format: 'skip' },
      { selector: 'svg', format: 'skip' },
      { selector: 'object', format: 'skip' },
      { selector: 'iframe', format: 'skip' },
      { selector: 'noscript', format: 'skip' },
      { selector: 'title', format: 'skip' },
    ],
  };
}

/**
 * HTML → plain text with encoded files cut and links neutralised. Never throws: on a converter failure the tags
 * are stripped crudely.
 */
export function htmlToPlainText(html: string, mode: LinkMode): { text: string; linksNeutralised: number; encoded: EncodedBlock[] } {
  const flat = flattenDeepNesting(html);
  let text: string;
  try {
    text = convert(flat, options(mode, flat.length));
  } catch {
    text = flat
      .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<[^<>]*>/g, ' ')
      .replace(/&(nbsp|amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? ' ');
  }
  text = text
    .replace(/\u00a0/g, ' ')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  const safe = safeText(cleanBodyText(text), mode);
  return { text: safe.text, linksNeutralised: safe.linksNeutralised, encoded: safe.encoded };
}
