/**
 * The archive child's program (entry: workers/archive.ts). stdin: one framed request (protocol.ts);
 * stdout: entry frames then one end frame; stderr: diagnostics only. Runs isolated: no network,
 * uid nobody, memory cap; it never sees a file name from the mail, only bytes.
 */
import { decryptOffice } from './office-crypto.js';
import { ArchiveStop, Budget, expandArchive, type RawEntry } from './expand.js';
import { decodeRequest, encodeEnd, encodeEntry, type ChildRequest } from './protocol.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function write(out: NodeJS.WritableStream, b: Buffer): Promise<void> {
  if (!out.write(b)) await new Promise((r) => out.once('drain', r));
}

/** Serves one request from the gateway (the trusted side runs it with sanitize/archive/run.ts runArchiveChild). */
export async function serveArchiveRequest(stdin: NodeJS.ReadableStream, stdout: NodeJS.WritableStream): Promise<void> {
  const { header, payload } = decodeRequest<ChildRequest>(await readAll(stdin));
  let entries: RawEntry[] = [];
  let code = 'OK';
  try {
    if (header.op === 'expand') {
      entries = await expandArchive(payload, new Budget(header.limits), header.password);
    } else if (header.op === 'office-decrypt') {
      const data = await decryptOffice(payload, header.password ?? '');
      entries = [{ rawName: new Uint8Array(0), utf8: true, data }];
    } else {
      code = 'CORRUPT';
    }
  } catch (e) {
    if (!(e instanceof ArchiveStop)) throw e; // no end frame: the gateway holds the part as RENDERER_FAILED
    process.stderr.write(`archive child: ${e.code}: ${e.message}\n`);
    entries = [];
    code = e.code;
  }
  for (const e of entries) for (const b of encodeEntry(e)) await write(stdout, b);
  await write(stdout, encodeEnd(code));
}
