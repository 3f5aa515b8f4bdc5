import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';
import type { Manifest } from '../domain/manifest.js';
import { stopSanitizers } from '../sanitize/lifecycle.js';
import { sha256 } from '../sanitize/hash.js';
import { sanitizeFile, sanitizeMessage, type StoredOutput } from '../sanitize/pipeline.js';
import type { SanitizeContext } from '../sanitize/types.js';

/** A mail is a mail by name (.eml/.msg822) or by a header block at the very start. */
function looksLikeMail(file: string, bytes: Buffer): boolean {
  if (/\.eml$/i.test(file)) return true;
  const head = bytes.subarray(0, 2048).toString('latin1');
  return /^(?:[!-9;-~]+:[^\n]*\r?\n(?:[ \t][^\n]*\r?\n)*){2,}/.test(head) && /^(from|to|subject|received|return-path|message-id|date|mime-version):/im.test(head);
}

/** Output names are the sanitizer's, made unique and kept inside DIR. */
function writeOutputs(dir: string, outputs: StoredOutput[]): void {
  const used = new Set<string>(['manifest.json', 'message.eml']);
  for (const o of outputs) {
    let name = path.basename(o.name).replace(/^\.+/, '_') || 'output';
    const ext = path.extname(name);
    for (let i = 2; used.has(name); i++) name = `${path.basename(o.name, ext)} (${i})${ext}`;
    used.add(name);
    writeFileSync(path.join(dir, name), o.bytes);
  }
}

/** `mukaika sanitize FILE`: no Redis, no database; exit 0 sanitized, 2 held or rejected. */
export async function offlineSanitize(config: Config, file: string, opts: { out?: string; password?: string }): Promise<number> {
  const bytes = readFileSync(file);
  const out = path.resolve(opts.out ?? `${file}.sanitized`);
  mkdirSync(out, { recursive: true });
  const log = createLogger(config.log.level === 'info' ? 'warn' : config.log.level, process.stderr);
  const ctx = { config, log };
  const isMail = looksLikeMail(file, bytes);
  const id = `${isMail ? 'm' : 'f'}${sha256(bytes).slice(0, 24)}`;
  let manifest;
  try {
    manifest = await sanitizeOne(file, isMail, id, bytes, out, ctx, opts);
  } finally {
    await stopSanitizers();
  }
  writeFileSync(path.join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest.verdict === 'sanitized' ? 0 : 2;
}

async function sanitizeOne(file: string, isMail: boolean, id: string, bytes: Buffer, out: string, ctx: SanitizeContext, opts: { password?: string }): Promise<Manifest> {
  let manifest: Manifest;
  if (isMail) {
    const res = await sanitizeMessage(id, bytes, ctx, opts.password !== undefined ? { password: opts.password } : {});
    writeFileSync(path.join(out, 'message.eml'), res.mail);
    writeOutputs(out, res.outputs);
    manifest = res.manifest;
  } else {
    const res = await sanitizeFile(id, { name: path.basename(file), declaredType: 'application/octet-stream', bytes, ...(opts.password !== undefined ? { password: opts.password } : {}) }, ctx);
    writeOutputs(out, res.outputs);
    manifest = res.manifest;
  }
  return manifest;
}
