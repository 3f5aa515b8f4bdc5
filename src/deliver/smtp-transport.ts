import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RecipientResult, SendOutcome, Transport } from './types.js';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  rejectedErrors?: SmtpError[];
  recipient?: string;
}

/**
 * Whether a recipient string can be sent as one exact `RCPT TO:<…>` line: a control character or an angle
 * bracket would end or widen the command, and a space is only part of a mailbox inside a quoted local part
 * (`"john doe"@x`, which intake accepts: domain/mailbox.ts). Anything else goes to the relay as stored,
 * whatever it looks like (the relay decides), so one stored recipient is always exactly one RCPT.
 */
function sendable(r: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f<>]/.test(r)) return false;
  if (!r.includes(' ')) return true;
  const at = r.lastIndexOf('@');
  const local = r.slice(0, at);
  return at > 0 && !r.slice(at + 1).includes(' ') && local.length >= 2 && local.startsWith('"') && local.endsWith('"');
}

/** How long an idle pooled connection is kept before QUIT. */
const IDLE_MS = 30_000;
/** Mails per connection before it is renewed (bounds state a long-lived session can accumulate). */
const MAX_MESSAGES = 1000;

interface Pooled {
  conn: SMTPConnection;
  sent: number;
  /** The connection ended or failed: never handed out again. */
  dead: boolean;
  /** Its slot in the pool has been given back (once). */
  dropped: boolean;
  /** Resolves when the connection dies: a command in flight on a closed connection never gets its callback. */
  died: Promise<void>;
  markDead: () => void;
  idleTimer?: NodeJS.Timeout | undefined;
}

/** Whether an error means the relay itself is unreachable or closing (not an answer about this mail). */
function relayLevel(err: SmtpError): boolean {
  if (err.responseCode === 421) return true;
  return !err.responseCode;
}

function replyOf(err: SmtpError): string {
  return err.response ?? `${err.code ? `${err.code}: ` : ''}${err.message}`;
}

/**
 * The LGWAN relay over SMTP, one SMTPConnection per mail in flight, kept and reused (RSET between mails).
 * nodemailer's SMTPConnection is used directly, not its mailer: the mailer re-parses envelope addresses
 * (`a,b@x` became two RCPTs) and normalises them (the results no longer matched the stored strings). Here
 * each stored recipient string is one RCPT, and each result names the exact string it answers.
 */
export class SmtpTransport implements Transport {
  readonly #opts: SMTPConnection.Options;
  readonly #auth: { user: string; pass: string } | undefined;
  readonly #max: number;
  readonly #idle: Pooled[] = [];
  readonly #waiters: ((p: Pooled | undefined) => void)[] = [];
  #open = 0;
  #closed = false;
  readonly #timeoutMs: number;

  constructor(url: string, timeoutMs: number, connections = 1, hostname = 'localhost') {
    const u = new URL(url);
    this.#opts = {
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'smtps:' ? 465 : 25)),
      secure: u.protocol === 'smtps:',
      name: hostname,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs * 4,
      // Inside LGWAN the relay may use a private CA; opportunistic STARTTLS still encrypts.
      tls: { rejectUnauthorized: false },
      opportunisticTLS: true,
      logger: false,
    };
    this.#auth = u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined;
    this.#max = connections;
    this.#timeoutMs = timeoutMs;
  }

  async send(envelope: { from: string; to: string[] }, raw: Buffer): Promise<SendOutcome> {
    const out: SendOutcome = { delivered: [], failed: [], deferred: [] };
    const toSend = envelope.to.filter(sendable);
    for (const r of envelope.to) if (!sendable(r)) out.failed.push({ recipient: r, response: 'refused: not sendable as one SMTP recipient (control character, angle bracket, or a space outside a quoted local part)' });
    if (toSend.length === 0) return out;

    let pooled: Pooled;
    try {
      pooled = await this.#acquire();
    } catch (e) {
      const err = e as SmtpError;
      // Our own shutdown says nothing about the relay: deferred, without opening the shared breaker.
      if (err.code !== 'ECLOSED') out.relayDown = replyOf(err);
      for (const r of toSend) out.deferred.push({ recipient: r, response: replyOf(err) });
      return out;
    }
    let reusable = false;
    try {
      // The socket timeout bounds each read; the deadline bounds the whole transaction, whatever the peer
      // does; and a connection that dies mid-command never calls back, so its death ends the wait too.
      let deadline: NodeJS.Timeout | undefined;
      const info = await Promise.race([
        new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => {
          pooled.conn.send({ from: envelope.from, to: toSend }, raw, (err, res) => (err ? reject(err) : resolve(res!)));
        }),
        pooled.died.then((): never => { throw Object.assign(new Error('connection closed'), { code: 'ECONNECTION' }); }),
        new Promise<never>((_, reject) => {
          deadline = setTimeout(() => {
            pooled.conn.close();
            reject(Object.assign(new Error('no end to the SMTP transaction'), { code: 'ETIMEDOUT' }));
          }, this.#timeoutMs * 8);
        }),
      ]).finally(() => clearTimeout(deadline));
      reusable = true;
      this.#sorted(toSend, info.accepted as string[], (info.rejectedErrors ?? []) as SmtpError[], info.response ?? '250', out);
    } catch (e) {
      const err = e as SmtpError;
      reusable = !pooled.dead && !relayLevel(err);
      if (err.rejectedErrors?.length && !err.command?.startsWith('MAIL')) {
        // Every recipient refused at RCPT: each has its own answer.
        this.#sorted(toSend, [], err.rejectedErrors, '', out);
      } else if (relayLevel(err)) {
        out.relayDown = replyOf(err);
        for (const r of toSend) out.deferred.push({ recipient: r, response: out.relayDown });
      } else {
        // An answer about this mail as a whole (MAIL FROM or DATA): it applies to every recipient.
        const bucket = err.responseCode! >= 500 ? out.failed : out.deferred;
        if (bucket === out.deferred) out.mailDeferred = replyOf(err);
        for (const r of toSend) bucket.push({ recipient: r, response: replyOf(err) });
      }
    }
    await this.#release(pooled, reusable);
    return out;
  }

  /**
   * Results by the exact stored string: SMTPConnection hands back the strings it was given, in RCPT order,
   * so `Staff@x` and `staff@x` stay two recipients with two results. Anything the relay said nothing about
   * is deferred, never dropped.
   */
  #sorted(sendable: string[], accepted: string[], rejected: SmtpError[], response: string, out: SendOutcome): void {
    const answered = new Set<string>();
    for (const e of rejected) {
      const recipient = e.recipient ?? '';
      if (!sendable.includes(recipient) || answered.has(recipient)) continue;
      answered.add(recipient);
      const r: RecipientResult = { recipient, response: replyOf(e) };
      if (e.responseCode && e.responseCode >= 500) out.failed.push(r);
      else out.deferred.push(r);
    }
    for (const recipient of accepted) {
      if (!sendable.includes(recipient) || answered.has(recipient)) continue;
      answered.add(recipient);
      out.delivered.push({ recipient, response });
    }
    for (const recipient of sendable) if (!answered.has(recipient)) out.deferred.push({ recipient, response: 'no reply for recipient' });
  }

  async #acquire(): Promise<Pooled> {
    for (;;) {
      if (this.#closed) throw Object.assign(new Error('transport closed'), { code: 'ECLOSED' });
      const idle = this.#idle.pop();
      if (idle) {
        clearTimeout(idle.idleTimer);
        if (!idle.dead) return idle;
        continue;
      }
      if (this.#open < this.#max) {
        // #connect's failure path retires the new connection, which gives this slot back.
        this.#open++;
        return await this.#connect();
      }
      const handed = await new Promise<Pooled | undefined>((r) => this.#waiters.push(r));
      if (handed && !handed.dead) return handed;
      if (handed) this.#retire(handed);
    }
  }

  #connect(): Promise<Pooled> {
    const conn = new SMTPConnection(this.#opts);
    let markDead = () => undefined as void;
    const died = new Promise<void>((r) => { markDead = r; });
    const pooled: Pooled = { conn, sent: 0, dead: false, dropped: false, died, markDead };
    const die = () => {
      pooled.dead = true;
      pooled.markDead();
      // An idle connection that dies gives its slot back now; one in use does when its send returns.
      const i = this.#idle.indexOf(pooled);
      if (i >= 0) this.#retire(pooled);
    };
    return new Promise<Pooled>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        die();
        if (!settled) {
          settled = true;
          conn.close();
          this.#retire(pooled);
          reject(err);
        }
      };
      // Errors are reported through the send or connect callbacks as well; the listener keeps them from
      // becoming uncaught and marks the connection unusable.
      conn.on('error', (err: Error) => fail(err));
      conn.on('end', () => fail(Object.assign(new Error('connection closed'), { code: 'ECONNECTION' })));
      conn.connect((err) => {
        if (err) return fail(err);
        if (!this.#auth) {
          settled = true;
          return resolve(pooled);
        }
        conn.login(this.#auth, (e) => {
          if (e) return fail(e);
          settled = true;
          resolve(pooled);
        });
      });
    });
  }

  async #release(p: Pooled, reusable: boolean): Promise<void> {
    p.sent++;
    if (reusable && !p.dead && !this.#closed && p.sent < MAX_MESSAGES) {
      let timer: NodeJS.Timeout | undefined;
      const reset = await Promise.race([
        new Promise<boolean>((r) => p.conn.reset((err) => r(!err))),
        p.died.then(() => false),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(false), this.#timeoutMs); }),
      ]);
      clearTimeout(timer);
      if (reset && !p.dead) {
        const waiter = this.#waiters.shift();
        if (waiter) return waiter(p);
        p.idleTimer = setTimeout(() => this.#retire(p), IDLE_MS);
        p.idleTimer.unref();
        this.#idle.push(p);
        return;
      }
    }
    this.#retire(p);
  }

  #retire(p: Pooled): void {
    const i = this.#idle.indexOf(p);
    if (i >= 0) this.#idle.splice(i, 1);
    clearTimeout(p.idleTimer);
    if (!p.dead) p.conn.quit();
    p.dead = true;
    p.markDead();
    if (p.dropped) return;
    p.dropped = true;
    this.#open--;
    this.#wakeOne();
  }

  #wakeOne(): void {
    this.#waiters.shift()?.(undefined);
  }

  close(): void {
    this.#closed = true;
    for (const p of [...this.#idle]) this.#retire(p);
    for (const w of this.#waiters.splice(0)) w(undefined);
  }
}
