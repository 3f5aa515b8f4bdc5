// Renderer child entry (docs/renderer.md): stdin = document, stdout = frames, stderr = logs. Logic in src/.
import { runRendererProcess } from '../src/sandboxed/renderer/process.js';

await runRendererProcess(process.argv.slice(2));
