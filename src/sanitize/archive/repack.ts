import { ZipFile } from 'yazl';

export interface RepackFile {
  /** Already neutralised and unique. */
  path: string;
  bytes: Buffer;
}

/** Fixed timestamp: nothing of the sender's archive (dates included) is carried into the new one. */
const EPOCH = new Date('2000-01-01T00:00:00Z');

/**
 * A new, unencrypted ZIP of sanitized outputs only. yazl writes names as UTF-8 and sets flag bit 11 for
 * non-ASCII names, so Windows Explorer and macOS both show 見積書.pdf correctly.
 */
export async function repackZip(files: RepackFile[]): Promise<Buffer> {
  const zip = new ZipFile();
  for (const f of files) zip.addBuffer(f.bytes, f.path, { mtime: EPOCH, mode: 0o100644, compress: true });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
  zip.end();
  return done;
}
