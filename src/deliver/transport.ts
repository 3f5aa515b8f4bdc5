import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { SmtpTransport } from './smtp-transport.js';
import type { SendOutcome, Transport } from './types.js';

export type { RecipientResult, SendOutcome, Transport } from './types.js';

/** With no relay configured: one file per mail in <dataDir>/outbox (Maildir), written tmp → fsync → new/. */
export class MaildirTransport implements Transport {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'outbox');
  }

  async send(envelope: { from: string; to: string[] }, raw: Buffer, key: string): Promise<SendOutcome> {
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(path.join(this.dir, sub), { recursive: true });
    // Envelope values go into header lines of the file: refuse anything that could start a new line.
    // eslint-disable-next-line no-control-regex
    if ([envelope.from, ...envelope.to].some((a) => /[\x00-\x1f\x7f<>]/.test(a))) {
      return { delivered: [], deferred: [], failed: envelope.to.map((recipient) => ({ recipient, response: 'refused: control characters in the envelope' })) };
    }
    const name = `${key.replace(/[^A-Za-z0-9._-]/g, '_')}.mukaika`;
    const tmp = path.join(this.dir, 'tmp', name);
    const head = Buffer.from(`Return-Path: <${envelope.from}>\r\nX-Mukaika-Envelope-To: ${envelope.to.join(', ')}\r\n`);
    const fh = await open(tmp, 'w', 0o640);
    try {
      await fh.write(Buffer.concat([head, raw]));
      await fh.sync();
    } finally {
      await fh.close();
    }
    // Same key, same file name: a retried delivery replaces the file rather than adding a second copy.
    await rename(tmp, path.join(this.dir, 'new', name));
    return { delivered: envelope.to.map((recipient) => ({ recipient, response: `maildir ${name}` })), failed: [], deferred: [] };
  }

  close(): void {}
}

export function createTransport(cfg: Config): Transport {
  return cfg.lgwan.smtpUrl ? new SmtpTransport(cfg.lgwan.smtpUrl, cfg.lgwan.connectionTimeoutMs, cfg.queue.deliverConcurrency, cfg.hostname) : new MaildirTransport(cfg.dataDir);
}
