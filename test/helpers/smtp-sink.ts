import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface SunkMail {
  from: string;
  to: string[];
  raw: Buffer;
}

export interface SinkBehaviour {
  /** Reply for RCPT TO of this recipient, e.g. '450 4.2.1 busy' or '550 5.1.1 no such user'. */
  rcpt?: (address: string) => string | undefined;
  /** Reply after DATA instead of 250. */
  data?: () => string | undefined;
}

/** A real SMTP server standing in for the LGWAN MTA: records every message it accepts. */
export class SmtpSink {
  readonly mails: SunkMail[] = [];
  behaviour: SinkBehaviour = {};
  private server!: SMTPServer;
  port = 0;

  static async start(port = 0): Promise<SmtpSink> {
    const sink = new SmtpSink();
    sink.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      disableReverseLookup: true,
      onRcptTo(address, _session, cb) {
        const reply = sink.behaviour.rcpt?.(address.address);
        if (reply) return cb(errorOf(reply));
        cb();
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const reply = sink.behaviour.data?.();
          if (reply) return cb(errorOf(reply));
          sink.mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks),
          });
          cb(null, 'OK sunk');
        });
      },
    });
    sink.server.on('error', () => undefined);
    await new Promise<void>((resolve) => sink.server.listen(port, '127.0.0.1', () => resolve()));
    sink.port = (sink.server.server.address() as AddressInfo).port;
    return sink;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function errorOf(reply: string): Error & { responseCode: number } {
  const code = Number(reply.slice(0, 3));
  return Object.assign(new Error(reply.slice(4)), { responseCode: code });
}
