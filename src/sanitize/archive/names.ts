/**
 * Entry names: decoded from the stored bytes the way Japanese senders' tools wrote them, then made safe
 * to show and to repack (no traversal, no absolute paths, no control or direction-override characters).
 */
import path from 'node:path';
import type { UntrustedEntry } from './reader.js';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Lax = new TextDecoder('utf-8');
// WHATWG "shift_jis" is Windows-31J (CP932): the NEC/IBM extensions (①, ㈱, 髙) decode as Windows does.
const cp932 = new TextDecoder('shift_jis');

/**
 * The name as the sender meant it. Windows' built-in ZIP (and most Japanese tools) store CP932 without
 * flag bit 11; macOS stores UTF-8 without the flag; Info-ZIP adds a Unicode Path extra field (0x7075).
 */
export function decodeEntryName(e: Pick<UntrustedEntry, 'untrustedRawName' | 'untrustedUtf8' | 'untrustedUnicodeName'>): string {
  const raw = e.untrustedRawName;
  // The child only forwards a Unicode Path field whose CRC matches the stored name; it wins over both.
  if (e.untrustedUnicodeName) return e.untrustedUnicodeName;
  if (e.untrustedUtf8) return utf8Lax.decode(raw);
  if (raw.every((b) => b < 0x80)) return raw.toString('latin1');
  try {
    return utf8Strict.decode(raw);
  } catch {
    return cp932.decode(raw);
  }
}

const MAX_COMPONENT = 200;
const MAX_NAME = 1000;

/**
 * A relative path with only ordinary components. `../evil`, `/etc/passwd`, `C:\x`, `a\..\..\b` and names
 * with NULs all come out as harmless relative names; `changed` says whether anything was removed.
 */
export function neutraliseName(decoded: string, fallback = 'file'): { name: string; changed: boolean } {
  const cleaned = decoded
    .normalize('NFC')
    // C0/C1 controls, DEL, bidi overrides/isolates (the "invoice<U+202E>fdp.exe" trick), BOM.
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ufeff]/g, '')
    .replace(/^[A-Za-z]:/, '');
  const parts = cleaned
    .split(/[/\\]+/)
    .map((p) => p.trim().replace(/[. ]+$/, '')) // Windows ignores trailing dots and spaces
    .filter((p) => p !== '' && p !== '.' && p !== '..' && !/^\.+$/.test(p))
    .map((p) => p.replace(/[:*?"<>|]/g, '_').slice(0, MAX_COMPONENT));
  let name = parts.join('/').slice(0, MAX_NAME);
  if (name === '') name = fallback;
  return { name, changed: name !== decoded };
}

/** `name`, or `name (2)`, `name (3)`… so that two entries never overwrite each other in the repacked zip. */
export function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name;
  for (let i = 2; taken.has(candidate.toLowerCase()); i++) {
    const dot = name.lastIndexOf('.');
    const slash = name.lastIndexOf('/');
    candidate = dot > slash + 1 ? `${name.slice(0, dot)} (${i})${name.slice(dot)}` : `${name} (${i})`;
  }
  taken.add(candidate.toLowerCase());
  return candidate;
}

/** 見積書.xlsx → 見積書: the leaf of a declared name without its extension, for naming outputs; never a path. */
export function stem(name: string, fallback = 'attachment'): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  const leaf = path.posix.basename(name.replace(/\\/g, '/')).replace(/[\0-\x1f\x7f]/g, '');
  const ext = path.posix.extname(leaf);
  return (ext && ext.length < leaf.length ? leaf.slice(0, -ext.length) : leaf).trim() || fallback;
}
