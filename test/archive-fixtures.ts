/**
 * A tiny ZIP writer for tests: arbitrary name bytes and flags (CP932 without bit 11, lying sizes,
 * entries sharing one local header), which real zip tools refuse to produce.
 */
import { crc32, deflateRawSync } from 'node:zlib';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import type { PartInput, PartResult, SanitizeContext } from '../src/sanitize/types.js';

export interface FixtureEntry {
  name: Buffer | string;
  data: Buffer;
  /** General-purpose flags; bit 11 (0x800) = UTF-8 name. Default: 0x800 for string names. */
  flags?: number;
  deflate?: boolean;
  /** Declared uncompressed size (default: the real one). */
  declaredSize?: number;
  /** Extra field bytes (central and local). */
  extra?: Buffer;
}

export function buildZip(entries: FixtureEntry[], opts: { overlapAll?: number } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const prepared = entries.map((e) => {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const flags = e.flags ?? (typeof e.name === 'string' ? 0x800 : 0);
    const body = e.deflate ? deflateRawSync(e.data) : e.data;
    return { name, flags, body, method: e.deflate ? 8 : 0, crc: crc32(e.data), size: e.declaredSize ?? e.data.length, extra: e.extra ?? Buffer.alloc(0) };
  });
  const central = (p: (typeof prepared)[number], at: number): Buffer => {
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(p.flags, 8);
    c.writeUInt16LE(p.method, 10);
    c.writeUInt32LE(p.crc, 16);
    c.writeUInt32LE(p.body.length, 20);
    c.writeUInt32LE(p.size, 24);
    c.writeUInt16LE(p.name.length, 28);
    c.writeUInt16LE(p.extra.length, 30);
    c.writeUInt32LE(at, 42);
    return Buffer.concat([c, p.name, p.extra]);
  };
  for (const p of prepared) {
    const l = Buffer.alloc(30);
    l.writeUInt32LE(0x04034b50, 0);
    l.writeUInt16LE(20, 4);
    l.writeUInt16LE(p.flags, 6);
    l.writeUInt16LE(p.method, 8);
    l.writeUInt32LE(p.crc, 14);
    l.writeUInt32LE(p.body.length, 18);
    l.writeUInt32LE(p.size, 22);
    l.writeUInt16LE(p.name.length, 26);
    l.writeUInt16LE(p.extra.length, 28);
    const local = Buffer.concat([l, p.name, p.extra, p.body]);
    centrals.push(central(p, offset));
    locals.push(local);
    offset += local.length;
  }
  // Overlap: more central entries that all point at the first local header (the "better zip bomb" idea).
  for (let i = 1; i < (opts.overlapAll ?? 0); i++) centrals.push(central({ ...prepared[0]!, name: Buffer.from(`copy${i}.bin`) }, 0));
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(centrals.length, 8);
  eocd.writeUInt16LE(centrals.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

/** Info-ZIP Unicode Path extra field (0x7075): version 1, CRC-32 of the stored name, UTF-8 name. */
export function unicodePathExtra(storedName: Buffer, utf8Name: string): Buffer {
  const name = Buffer.from(utf8Name, 'utf8');
  const b = Buffer.alloc(4 + 5);
  b.writeUInt16LE(0x7075, 0);
  b.writeUInt16LE(5 + name.length, 2);
  b.writeUInt8(1, 4);
  b.writeUInt32LE(crc32(storedName), 5);
  return Buffer.concat([b, name]);
}

export function testContext(overrides: Record<string, unknown> = {}): SanitizeContext {
  return { config: loadConfig({ env: {}, overrides }), log: silentLogger };
}

/** CP932 bytes of a string (only what the tests need: encode through iconv-free TextDecoder round trip). */
export const CP932 = {
  見積書: Buffer.from([0x8c, 0xa9, 0x90, 0xcf, 0x8f, 0x91]),
};


/** The real dispatcher: archive entries come back through the same table. */
export function dispatch(input: PartInput, ctx: SanitizeContext): Promise<PartResult> {
  return sanitizePart(input, ctx);
}
