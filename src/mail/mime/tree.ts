/** The MIME tree of a message, built with bounded depth and part count and without recursion into bodies we do not need. */
import { getHeader, parseStructured, splitHeaderBlock, type HeaderField } from './headers.js';

export interface MimePart {
  fields: HeaderField[];
  /** Lower-case `type/subtype`; text/plain when missing or malformed (RFC 2045 default). */
  type: string;
  params: Record<string, string>;
  /** Lower-case disposition type, '' when absent. */
  disposition: string;
  dispParams: Record<string, string>;
  cte: string | undefined;
  /** Still transfer-encoded; for multiparts, the whole body. */
  body: Buffer;
  children: MimePart[];
  depth: number;
}

const TYPE = /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,128}$/;

interface Budget {
  parts: number;
  maxParts: number;
  maxDepth: number;
  truncated: boolean;
}

function isLineEnd(c: number | undefined): boolean {
  return c === 0x0a || c === 0x0d;
}

/**
 * Part ranges of a multipart body. A delimiter is `--boundary` at a line start followed only by
 * optional `--` and whitespace, so a nested boundary that merely starts with ours is not taken.
 * A missing close delimiter ends the last part at the end of the body.
 */
export function splitMultipart(buf: Buffer, boundary: string): [number, number][] {
  const delim = Buffer.from('--' + boundary, 'latin1');
  const ranges: [number, number][] = [];
  let partStart = -1;
  let pos = 0;
  while (pos <= buf.length) {
    const idx = buf.indexOf(delim, pos);
    if (idx < 0) break;
    pos = idx + 1;
    if (idx > 0 && !isLineEnd(buf[idx - 1])) continue;
    let j = idx + delim.length;
    let close = false;
    if (buf[j] === 0x2d && buf[j + 1] === 0x2d) {
      close = true;
      j += 2;
    }
    while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
    if (j < buf.length && !isLineEnd(buf[j]) && !close) continue;
    if (partStart >= 0) {
      let end = idx;
      if (buf[end - 1] === 0x0a) end--;
      if (buf[end - 1] === 0x0d) end--;
      ranges.push([partStart, Math.max(partStart, end)]);
    }
    if (close) return ranges;
    // skip to the end of the delimiter line
    while (j < buf.length && !isLineEnd(buf[j])) j++;
    if (buf[j] === 0x0d) j++;
    if (buf[j] === 0x0a) j++;
    partStart = j;
    pos = j;
  }
  if (partStart >= 0 && partStart <= buf.length) ranges.push([partStart, buf.length]);
  return ranges;
}

function buildPart(buf: Buffer, depth: number, budget: Budget, defaultType: string): MimePart {
  budget.parts++;
  const { fields, bodyStart } = splitHeaderBlock(buf);
  const ct = parseStructured(getHeader(fields, 'content-type'));
  const cd = parseStructured(getHeader(fields, 'content-disposition'));
  let type = TYPE.test(ct.value) ? ct.value : defaultType;
  const boundary = ct.params.boundary;
  if (type.startsWith('multipart/') && (!boundary || boundary.length > 200)) type = 'text/plain';
  const part: MimePart = {
    fields,
    type,
    params: ct.params,
    disposition: cd.value.split(/\s/, 1)[0] ?? '',
    dispParams: cd.params,
    cte: getHeader(fields, 'content-transfer-encoding'),
    body: buf.subarray(bodyStart),
    children: [],
    depth,
  };
  if (!type.startsWith('multipart/') || !boundary) return part;
  if (depth >= budget.maxDepth) {
    budget.truncated = true;
    return part;
  }
  const ranges = splitMultipart(part.body, boundary);
  if (ranges.length === 0 && part.body.length > 0) {
    // No delimiter at all: keep the text rather than lose it.
    ranges.push([0, part.body.length]);
  }
  const childDefault = type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
  for (const [s, e] of ranges) {
    if (budget.parts >= budget.maxParts) {
      budget.truncated = true;
      break;
    }
    part.children.push(buildPart(part.body.subarray(s, e), depth + 1, budget, childDefault));
  }
  return part;
}

/** Parse the MIME structure. Never throws; `truncated` says a depth or part limit cut something. */
export function parseTree(raw: Buffer, maxDepth: number, maxParts: number): { root: MimePart; truncated: boolean } {
  const budget: Budget = { parts: 0, maxParts: Math.max(1, maxParts), maxDepth: Math.max(0, maxDepth), truncated: false };
  const root = buildPart(raw, 0, budget, 'text/plain');
  return { root, truncated: budget.truncated };
}

/** One attachment as the MIME tree yields it: name cleaned, bytes decoded, nothing converted yet. */
export interface ParsedAttachment {
  name: string;
  declaredType: string;
  bytes: Buffer;
  inline: boolean;
}
