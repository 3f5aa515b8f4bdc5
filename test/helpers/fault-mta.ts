import { setTimeout as sleep } from 'node:timers/promises';
import { RawSmtp } from './smtp-client.js';

/** One mail the fake MTA must get accepted, and what happened to it. */
export interface Outgoing {
  n: number;
  raw: string;
  to: string[];
  /** Every final reply (or 'connection lost') in order; the MTA retries until a 250 or the deadline. */
  replies: string[];
  /** From the first `250 2.0.0 queued as <id>`. */
  id?: string;
}

/** A plain text mail of about `size` bytes with a unique Message-ID, so ids never collide across runs. */
export function textMail(tag: string, n: number, size = 2000): string {
  const line = `${tag} mail ${n}: the quick brown fox jumps over the lazy dog 0123456789\r\n`;
  const body = line.repeat(Math.max(1, Math.ceil(size / line.length)));
  return `From: sender${n}@example.com\r\nTo: staff${n % 7}@example.lg.jp\r\nSubject: ${tag} ${n}\r\n`
    + `Message-ID: <${tag}-${n}-${Date.now()}@example.com>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0900\r\n\r\n${body}`;
}

export function outgoing(tag: string, count: number, make: (n: number) => string = (n) => textMail(tag, n)): Outgoing[] {
  return Array.from({ length: count }, (_, n) => ({ n, raw: make(n), to: [`staff${n % 7}@example.lg.jp`], replies: [] }));
}

export interface MtaOptions {
  port: () => number;
  /** Parallel sessions, like Postfix's process limit for the transport. */
  sessions?: number;
  /** Give up on a mail after this long (the test then counts it as never accepted, which the MTA would retry later). */
  deadlineMs?: number;
  /** Pause before reconnecting after a 4xx or a lost connection. */
  retryDelayMs?: number;
  /** Stop retrying a mail after this many temporary failures (a probe); default: until the deadline. */
  maxTries?: number;
}

/**
 * Behaves like Postfix's smtp client towards a content filter: reuses sessions, treats 4xx, 421 and a dropped
 * connection as "try again later" and 5xx as final. A mail that saw a 250 is never sent again — the id then
 * must be delivered exactly once.
 */
export async function mtaSend(mails: Outgoing[], opts: MtaOptions): Promise<void> {
  const queue = [...mails];
  const deadline = Date.now() + (opts.deadlineMs ?? 90_000);
  const retryDelay = opts.retryDelayMs ?? 150;
  const session = async () => {
    let client: RawSmtp | undefined;
    for (;;) {
      const m = queue.shift();
      if (!m) break;
      if (Date.now() > deadline) continue;
      try {
        if (!client || client.closed) client = await open(opts.port());
        const replies = client ? await client.send(`sender${m.n}@example.com`, m.to, m.raw) : ['connection refused'];
        const last = replies.at(-1) || 'connection lost';
        m.replies.push(last);
        const id = /^250 2\.0\.0 queued as (\S+)$/.exec(last)?.[1];
        if (id) {
          m.id = id;
          continue;
        }
        if (/^5/.test(last)) continue;
      } catch (err) {
        m.replies.push(`error: ${(err as Error).message}`);
      }
      // Temporary failure: drop the session (as Postfix does after 421/lost connections) and retry later.
      client?.close();
      client = undefined;
      if (m.replies.length < (opts.maxTries ?? Infinity)) queue.push(m);
      await sleep(retryDelay);
    }
    if (client && !client.closed) {
      client.write('QUIT\r\n');
      client.close();
    }
  };
  await Promise.all(Array.from({ length: opts.sessions ?? 8 }, session));
}

async function open(port: number): Promise<RawSmtp | undefined> {
  const { client, greeting } = await RawSmtp.connect(port);
  if (!greeting.startsWith('220')) {
    client.close();
    return undefined;
  }
  const ehlo = await client.cmd('EHLO mta.example');
  if (!ehlo.startsWith('250')) {
    client.close();
    return undefined;
  }
  return client;
}

export function summary(mails: Outgoing[]): { accepted: number; tempFailures: number; codes: Record<string, number> } {
  const codes: Record<string, number> = {};
  let temp = 0;
  for (const m of mails) {
    for (const r of m.replies) {
      const code = /^\d{3}(?: \d\.\d\.\d)?/.exec(r)?.[0] ?? r.slice(0, 20);
      codes[code] = (codes[code] ?? 0) + 1;
      if (!r.startsWith('250')) temp++;
    }
  }
  return { accepted: mails.filter((m) => m.id).length, tempFailures: temp, codes };
}

/** A text mail with one attachment (base64), e.g. a PDF that keeps a sanitize job busy for a while. */
export function mailWithAttachment(tag: string, n: number, name: string, type: string, bytes: Buffer): string {
  const b = `b-${tag}-${n}`;
  const b64 = bytes.toString('base64').replace(/.{76}/g, '$&\r\n');
  return `From: sender${n}@example.com\r\nTo: staff${n % 7}@example.lg.jp\r\nSubject: ${tag} ${n}\r\n`
    + `Message-ID: <${tag}-${n}-${Date.now()}@example.com>\r\nMIME-Version: 1.0\r\n`
    + `Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n`
    + `${tag} ${n} with an attachment\r\n--${b}\r\nContent-Type: ${type}; name="${name}"\r\n`
    + `Content-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--${b}--\r\n`;
}
