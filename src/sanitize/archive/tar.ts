/** Child side: tar entries with the shared budget. Only regular files come out; links and devices are dropped. */
import { extract, type Header } from 'tar-stream';
import { ArchiveStop, type Budget, type RawEntry } from './budget.js';

export async function expandTar(bytes: Uint8Array, budget: Budget): Promise<RawEntry[]> {
  // latin1 maps each byte of the stored name to one code unit, so the raw bytes can be recovered exactly.
  const ex = extract({ filenameEncoding: 'latin1' } as Parameters<typeof extract>[0]);
  const out: RawEntry[] = [];
  let failure: ArchiveStop | undefined;
  const done = new Promise<void>((resolve) => {
    ex.on('entry', (header: Header, stream, next) => {
      const isFile = header.type === 'file' || header.type === 'contiguous-file';
      try {
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
          const paxPath = (header.pax as Record<string, string> | undefined)?.path;
          out.push({
            rawName: paxPath ? Buffer.from(paxPath, 'utf8') : Buffer.from(header.name, 'latin1'),
            utf8: Boolean(paxPath),
            data: Buffer.concat(chunks),
          });
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
