/**
 * Child side: tar entries with the shared budget. Regular files come out with their data; links, devices,
 * FIFOs and unknown member types come out as named entries without data, so the manifest lists them
 * (removed). Directories are structure only.
 */
import { extract, type Header } from 'tar-stream';
import { ArchiveStop, type Budget, type RawEntry, type SpecialKind } from './budget.js';

function specialKind(type: Header['type']): SpecialKind | undefined {
  switch (type) {
    case 'file':
    case 'contiguous-file':
    case 'directory':
      return undefined;
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'character-device':
    case 'block-device':
      return 'device';
    case 'fifo':
      return 'fifo';
    default:
      return 'other';
  }
}

function nameOf(header: Header): Pick<RawEntry, 'rawName' | 'utf8'> {
  const paxPath = (header.pax as Record<string, string> | undefined)?.path;
  return { rawName: paxPath ? Buffer.from(paxPath, 'utf8') : Buffer.from(header.name, 'latin1'), utf8: Boolean(paxPath) };
}

export async function expandTar(bytes: Uint8Array, budget: Budget): Promise<RawEntry[]> {
  // latin1 maps each byte of the stored name to one code unit, so the raw bytes can be recovered exactly.
  const ex = extract({ filenameEncoding: 'latin1' } as Parameters<typeof extract>[0]);
  const out: RawEntry[] = [];
  let failure: ArchiveStop | undefined;
  const done = new Promise<void>((resolve) => {
    ex.on('entry', (header: Header, stream, next) => {
      const isFile = header.type === 'file' || header.type === 'contiguous-file';
      const special = specialKind(header.type);
      try {
        if (special) budget.addEntry();
        if (isFile) {
          budget.addEntry();
          const size = header.size ?? 0;
          if (size > budget.room()) throw new ArchiveStop('LIMIT_ARCHIVE', 'tar entry over the budget');
        }
      } catch (e) {
        failure = e as ArchiveStop;
        ex.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let n = 0;
      stream.on('data', (chunk: unknown) => {
        const c = chunk as Buffer;
        n += c.length;
        if (isFile && n <= budget.room()) chunks.push(c);
      });
      stream.on('end', () => {
        if (isFile) {
          try {
            budget.spend(n, n);
          } catch (e) {
            failure = e as ArchiveStop;
            ex.destroy();
            return;
          }
          out.push({ ...nameOf(header), data: Buffer.concat(chunks) });
        } else if (special) {
          out.push({ ...nameOf(header), data: Buffer.alloc(0), special });
        }
        next();
      });
      stream.resume();
    });
    ex.on('finish', () => resolve());
    ex.on('close', () => resolve());
    ex.on('error', (e: Error) => {
      failure ??= new ArchiveStop('CORRUPT', `tar: ${e.message}`);
      resolve();
    });
  });
  ex.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  await done;
  if (failure) throw failure;
  return out;
}
