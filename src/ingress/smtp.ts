import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { Context } from '../context.js';
import { MukaikaError, smtpReplyOf, toMukaikaError } from '../errors.js';
import { EVT } from '../log.js';
import { acceptOriginal } from './accept.js';
import { guardSlowDrip } from './smtp-drip.js';
import { checkPeer, checkRecipient, checkSender, peerAllowList, recipientPolicy } from './smtp-policy.js';

export interface SmtpIngress {
  server: SMTPServer;
  port: number;
  /** Stop taking new mail (421 to new transactions), let running DATA finish, then close. */
  close(): Promise<void>;
}

/** smtp-server wants an Error with responseCode; our replies carry their enhanced status code in the text. */
function smtpError(err: MukaikaError): Error & { responseCode: number } {
  const { responseCode, text } = smtpReplyOf(err);
  return Object.assign(new Error(text), { responseCode });
}

/**
 * Yields the message up to `max` bytes; past it, keeps reading (the reply must follow the end of DATA and the
 * session stays usable) but stops buffering, then throws MESSAGE_TOO_LARGE. Never destroys the SMTP stream.
 */
async function* drainPastLimit(stream: Readable, max: number): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= max) yield chunk;
  }
  if (size > max) throw new MukaikaError('MESSAGE_TOO_LARGE', `message over ${max} bytes`);
}

/** The transaction's canonical recipients, each once (a repeated RCPT, in any spelling, is one recipient). */
function uniqueRecipients(session: SMTPServerSession): string[] {
  return [...new Set(session.envelope.rcptTo.map((r) => r.address))];
}

/**
 * Drops later envelope entries of an address already in it. smtp-server indexes its envelope by the peer's
 * spelling, so each new spelling of one mailbox (`"a"@x`, `"\a"@x`, …) was appended although we gave it the
 * stored canonical address: the list grew by one per RCPT, without limit, and every RCPT scanned it all.
 */
function collapseRecipients(session: SMTPServerSession): void {
  const list = session.envelope.rcptTo;
  const seen = new Set<string>();
  let kept = 0;
  for (const r of list) {
    if (seen.has(r.address)) continue;
    seen.add(r.address);
    list[kept++] = r;
  }
  list.length = kept;
}

export async function startSmtp(ctx: Context, opts: { port?: number; host?: string; closeTimeoutMs?: number } = {}): Promise<SmtpIngress> {
  const { config, log } = ctx;
  const allowed = peerAllowList(config.smtp.allowedNetworks);
  const tls = config.smtp.tlsKeyFile && config.smtp.tlsCertFile
    ? { key: readFileSync(config.smtp.tlsKeyFile), cert: readFileSync(config.smtp.tlsCertFile) }
    : undefined;
  const recipients = recipientPolicy(config.smtp);
  let shuttingDown = false;

  const refuse = (err: MukaikaError, session: SMTPServerSession | undefined, cb: (e?: Error) => void) => {
    log.info({ evt: EVT.SMTP_REFUSED, code: err.code, peer: session?.remoteAddress, detail: err.message }, 'smtp refused');
    cb(smtpError(err));
  };

  const options: SMTPServerOptions = {
    name: config.hostname,
    banner: 'Mukaika',
    size: config.smtp.maxMessageBytes,
    authOptional: true,
    disabledCommands: tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(tls ?? {}),
    // maxClients is enforced in onConnect: smtp-server's own refusal lacks the 4.3.2 of the contract.
    socketTimeout: config.smtp.socketTimeoutMs,
    // Our close() has already waited out the grace period when smtp-server's close runs.
    closeTimeout: 100,
    disableReverseLookup: true,
    // Not offered because not done: UTF-8 local parts are refused (domain/mailbox.ts), and no DSN is ever
    // sent for NOTIFY/RET; advertising them invites requests the gateway would silently not honour.
    hideSMTPUTF8: true,
    hideDSN: true,
    // Address syntax is ours to judge, with the one strict parser (domain/mailbox.ts), so that one rule
    // and one reply (501 5.1.3) cover both SMTP and the API; smtp-server still refuses what it cannot split.
    lenientAddressParsing: true,
    logger: false,

    onConnect(session, cb) {
      if (shuttingDown) return refuse(new MukaikaError('SHUTTING_DOWN'), session, cb);
      // The count includes this connection, as smtp-server's own check does.
      if (server.connections.size > config.smtp.maxClients) return refuse(new MukaikaError('TOO_MANY_CONNECTIONS'), session, cb);
      const denied = checkPeer(allowed, session.remoteAddress);
      if (denied) {
        log.warn({ evt: EVT.SMTP_CONNECT_DENIED, peer: session.remoteAddress }, 'peer refused');
        return cb(smtpError(denied));
      }
      guardSlowDrip(server, session, { windowMs: config.smtp.socketTimeoutMs, minBytesPerSecond: config.smtp.minBytesPerSecond }, (detail) => {
        log.warn({ evt: EVT.SMTP_TOO_SLOW, peer: session.remoteAddress, detail }, 'slow peer dropped');
      });
      cb();
    },
    // smtp-server stores the very address object it hands us in the session envelope: replacing its
    // `address` with the canonical form means the envelope holds exactly what the strict parser produced
    // (domain/mailbox.ts), and nothing parses the peer's spelling again.
    onMailFrom(address, session, cb) {
      const res = checkSender(address.address, shuttingDown);
      if (res instanceof MukaikaError) return refuse(res, session, cb);
      address.address = res;
      return cb();
    },
    onRcptTo(address, session, cb) {
      collapseRecipients(session);
      const res = checkRecipient(recipients, address.address, uniqueRecipients(session));
      if (res instanceof MukaikaError) return refuse(res, session, cb);
      address.address = res;
      cb();
      // smtp-server adds the entry inside cb; collapsed again at the next RCPT should that ever be later.
      collapseRecipients(session);
    },
    onData(stream: SMTPServerDataStream, session, cb) {
      const envelope = {
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        to: uniqueRecipients(session),
      };
      const data = drainPastLimit(stream, config.smtp.maxMessageBytes);
      acceptOriginal(ctx, { kind: 'message', source: 'smtp', envelope, data, maxBytes: config.smtp.maxMessageBytes })
        .then(({ id }) => cb(null, `2.0.0 queued as ${id}`))
        .catch((e: unknown) => {
          const err = toMukaikaError(e);
          // Whatever failed, the rest of the message must still be read off the socket for the reply to be in sync.
          stream.resume();
          if (err.code === 'INTERNAL') log.error({ evt: EVT.SMTP_TEMPFAIL, err: e }, 'accept failed');
          else log.warn({ evt: EVT.SMTP_TEMPFAIL, code: err.code, detail: err.message }, 'accept refused');
          cb(smtpError(err));
        });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', (err) => log.error({ err }, 'smtp server error'));
  const port = await new Promise<number>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? config.smtp.port, opts.host ?? config.smtp.host, () => {
      resolve((server.server.address() as AddressInfo).port);
    });
  });
  return {
    server,
    port,
    async close() {
      shuttingDown = true;
      // Stop accepting; sessions already open get 421 4.3.2 from our MAIL handler, and a DATA in progress
      // may finish within the grace period. smtp-server's own close then ends whatever is left.
      server.server.close();
      const deadline = Date.now() + (opts.closeTimeoutMs ?? config.queue.shutdownTimeoutMs);
      while (server.connections.size > 0 && Date.now() < deadline) await sleep(50);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
