// Test-only renderer child that misbehaves on purpose. Selected by the test through RenderOptions.entry
// (trusted code), never reachable from input bytes. argv[2] picks the misbehaviour.
import { encodeDoc, encodePageHeader, encodeStart } from '../../src/sandboxed/renderer/protocol.js';

const how = process.argv[2];
const out = (b: Buffer): boolean => process.stdout.write(b);
process.stdin.resume(); // drain input like a real child

if (how === 'hang') {
  setInterval(() => {}, 1000);
} else if (how === 'crash') {
  out(encodeStart());
  out(encodeDoc(1));
  setTimeout(() => process.abort(), 50);
} else if (how === 'stall-after-doc') {
  out(encodeStart());
  out(encodeDoc(2));
  setInterval(() => {}, 1000);
} else if (how === 'giant-page') {
  out(encodeStart());
  out(encodeDoc(1));
  out(encodePageHeader(0, 0xffffffff, 0xffffffff, 3));
  setInterval(() => out(Buffer.alloc(65536)), 5);
} else if (how === 'garbage') {
  out(Buffer.from('%PDF-1.7 this is not a frame stream'));
  process.stdin.on('end', () => process.exit(0));
} else if (how === 'memory') {
  const keep: Buffer[] = [];
  setInterval(() => keep.push(Buffer.alloc(64 * 1024 * 1024, 1)), 20);
}
