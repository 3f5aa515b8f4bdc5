// Archive child entry (docs/office-archives.md): stdin = framed request, stdout = entry frames, stderr = logs.
import { serveArchiveRequest } from '../src/sandboxed/archive/main.js';

await serveArchiveRequest(process.stdin, process.stdout);
