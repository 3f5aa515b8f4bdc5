import type { Socket } from 'node:net';
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import { MukaikaError, smtpReplyOf } from '../errors.js';

/** What the guard needs of smtp-server's connection: its session, its one reply path, its socket. */
interface Connection {
  session: SMTPServerSession;
  send(code: number, data?: string | string[], context?: string | false): void;
  _socket?: Socket;
}

export interface DripLimits {
  /** A peer that keeps sending may go this long without earning a reply (smtp.socketTimeoutMs). */
  windowMs: number;
  /** …unless it sends at least this many bytes per second meanwhile (a long DATA at a real rate). */
  minBytesPerSecond: number;
}

/**
 * Slow-drip (slowloris) guard for one SMTP session. smtp-server's idle timeout is per read: a peer sending
 * one byte now and then, never finishing a command, keeps a session (one of `smtp.maxClients`) forever.
 *
 * Rule: while the peer is sending (a byte within the last window), the time since the server's last reply
 * may exceed the window only if the bytes sent since that reply come at `minBytesPerSecond` on average: an
 * honest client either finishes its command (and gets a reply) or streams DATA at a real rate. A peer that
 * has sent everything and waits for us is never cut off here (nothing arrives). Over the limit: `421 4.4.2`
 * (TOO_SLOW) and the connection closes, and no mail of that session is accepted (its DATA, if any, never ended).
 *
 * Bytes are counted on the plain socket; after STARTTLS they are no longer seen, so the guard stands down
 * and the idle timeout alone applies.
 */
export function guardSlowDrip(server: SMTPServer, session: SMTPServerSession, limits: DripLimits, onDrip: (detail: string) => void): void {
  const conn = [...(server.connections as Set<unknown>)].find((c) => (c as Connection).session === session) as Connection | undefined;
  const socket = conn?._socket;
  if (!conn || !socket) return;
  let lastReply = Date.now();
  let lastByte = 0;
  let bytesSinceReply = 0;
  const send = conn.send.bind(conn);
  conn.send = (...args: Parameters<Connection['send']>) => {
    lastReply = Date.now();
    bytesSinceReply = 0;
    send(...args);
  };
  const onData = (chunk: Buffer) => {
    bytesSinceReply += chunk.length;
    lastByte = Date.now();
  };
  socket.on('data', onData);
  const timer = setInterval(() => {
    const now = Date.now();
    const quiet = now - lastReply;
    if (quiet <= limits.windowMs || now - lastByte > limits.windowMs) return;
    if (bytesSinceReply >= (limits.minBytesPerSecond * quiet) / 1000) return;
    stop();
    onDrip(`${bytesSinceReply} bytes in ${quiet} ms without completing a command`);
    // smtp-server closes the connection after any 421, and bounds a peer that keeps its side open.
    const { responseCode, text } = smtpReplyOf(new MukaikaError('TOO_SLOW'));
    send(responseCode, text, false);
  }, Math.min(1000, limits.windowMs / 4));
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    socket.off('data', onData);
  };
  socket.once('close', stop);
}
