/** Read a whole zip synchronously with an independent parser (central directory walk), for assertions only. */
import { inflateRawSync } from 'node:zlib';

export interface ReadEntry {
  name: string;
  utf8: boolean;
  encrypted: boolean;
  data: Buffer;
}

export function unzipSync(zip: Buffer): ReadEntry[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(eocd + 10);
  let c = zip.readUInt32LE(eocd + 16);
  const out: ReadEntry[] = [];
  for (let i = 0; i < count; i++) {
    const flags = zip.readUInt16LE(c + 8);
    const method = zip.readUInt16LE(c + 10);
    const csize = zip.readUInt32LE(c + 20);
    const nameLen = zip.readUInt16LE(c + 28);
    const extraLen = zip.readUInt16LE(c + 30);
    const commentLen = zip.readUInt16LE(c + 32);
    const local = zip.readUInt32LE(c + 42);
    const name = zip.subarray(c + 46, c + 46 + nameLen).toString(flags & 0x800 ? 'utf8' : 'latin1');
    const dataAt = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(dataAt, dataAt + csize);
    const encrypted = (flags & 1) !== 0;
    out.push({ name, utf8: (flags & 0x800) !== 0, encrypted, data: encrypted ? raw : method === 8 ? inflateRawSync(raw) : Buffer.from(raw) });
    c += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}
