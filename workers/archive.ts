// Archive child entry (docs/office-archives.md): stdin = framed request, stdout = entry frames, stderr = logs.
import { runArchiveChild } from '../src/sandboxed/archive/main.js';

await runArchiveChild(process.stdin, process.stdout);
