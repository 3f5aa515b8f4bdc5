import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config/schema.js';

export interface RecipientResult {
  recipient: string;
  response: string;
}

/** Per-recipient outcome of one attempt: 2xx delivered, 5xx failed for good, 4xx or no answer deferred. */
export interface SendOutcome {
  delivered: RecipientResult[];
  failed: RecipientResult[];
  deferred: RecipientResult[];
}

export interface Transport {
  /** `key` names this exact mail for this batch; transports that write files use it to stay idempotent. */
  send(envelope: { from: string; to: string[] }, raw: Buffer, key: string): Promise<SendOutcome>;
  close(): void;
}

interface SmtpError extends Error {
  responseCode?: number;
  response?: string;
  rejectedErrors?: SmtpError[];
  recipient?: string;
}

function classify(errors: SmtpError[], out: SendOutcome): void {
  for (const e of errors) {
    const r = { recipient: e.recipient ?? '', response: e.response ?? e.message };
    if (e.responseCode && e.responseCode >= 500) out.failed.push(r);
    else out.deferred.push(r);
  }
}

/** nodemailer to the LGWAN MTA with an explicit envelope; never sends to anyone not in `envelope.to`. */
export class SmtpTransport implements Transport {
  readonly #transporter: Transporter;
  constructor(url: string, timeoutMs: number, connections = 1) {
    const u = new URL(url);
    this.#transporter = nodemailer.createTransport({
      // Connections to the relay are kept and reused (RSET between mails) instead of one TCP + EHLO +
      // STARTTLS per mail; one per delivery job in flight.
      pool: true,
      maxConnections: connections,
      maxMessages: 1000,
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'smtps:' ? 465 : 25)),
      secure: u.protocol === 'smtps:',
      ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs * 4,
      // Inside LGWAN the relay may use a private CA; opportunistic STARTTLS still encrypts.
      tls: { rejectUnauthorized: false },
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async send(envelope: { from: string; to: string[] }, raw: Buffer): Promise<SendOutcome> {
    const out: SendOutcome = { delivered: [], failed: [], deferred: [] };
    try {
      const info = await this.#transporter.sendMail({ envelope, raw });
      const accepted = (info.accepted as (string | { address: string })[]).map((a) => (typeof a === 'string' ? a : a.address));
      for (const r of accepted) out.delivered.push({ recipient: r, response: info.response ?? '250' });
      classify((info as unknown as { rejectedErrors?: SmtpError[] }).rejectedErrors ?? [], out);
    } catch (e) {
      const err = e as SmtpError;
      if (err.rejectedErrors?.length) {
        classify(err.rejectedErrors, out);
      } else {
        const response = err.response ?? `${err.message}`;
        const bucket = err.responseCode && err.responseCode >= 500 ? out.failed : out.deferred;
        for (const r of envelope.to) bucket.push({ recipient: r, response });
      }
    }
    // nodemailer reports addresses normalised (domain lower-cased): map them back to the strings we stored,
    // or a delivered recipient would stay pending and be sent again.
    const stored = new Map(envelope.to.map((r) => [r.toLowerCase(), r]));
    for (const list of [out.delivered, out.failed, out.deferred]) {
      for (const r of list) r.recipient = stored.get(r.recipient.toLowerCase()) ?? r.recipient;
    }
    // A recipient the server never answered for is deferred, never silently dropped.
    const seen = new Set([...out.delivered, ...out.failed, ...out.deferred].map((r) => r.recipient.toLowerCase()));
    for (const r of envelope.to) if (!seen.has(r.toLowerCase())) out.deferred.push({ recipient: r, response: 'no reply for recipient' });
    return out;
  }

  close(): void {
    this.#transporter.close();
  }
}

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
  return cfg.lgwan.smtpUrl ? new SmtpTransport(cfg.lgwan.smtpUrl, cfg.lgwan.connectionTimeoutMs, cfg.queue.deliverConcurrency) : new MaildirTransport(cfg.dataDir);
}
