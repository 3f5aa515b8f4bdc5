import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { isIPv6 } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import { MukaikaError } from '../errors.js';
import { EVT, type Logger } from '../log.js';

/**
 * Connection-level limits of the Internet-side API. The API shares the gateway process, and so its
 * file-descriptor limit, with SMTP intake: without these, a few hundred half-open HTTP connections made new
 * SMTP connections close without a greeting (docs/RELIABILITY.md, "HTTP API under abuse").
 */

/** Descriptors kept for everything but client sockets: database, Redis, logs, libuv, directory fsyncs. */
export const FD_RESERVE = 128;

/** The soft "Max open files" of this process (ulimit -n), from /proc/self/limits; undefined if unknown. */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)?.[1];
  return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
}

/**
 * The number of API connections allowed: `http.maxConnections`, lowered so that SMTP's and the API's
 * sockets fit under the open-file limit with FD_RESERVE to spare. Each connection is counted twice: its
 * socket and the spool file an upload or a DATA holds open while it is written.
 */
export function httpConnectionCap(cfg: Config, fdLimit: number | undefined): number {
  if (fdLimit === undefined) return cfg.http.maxConnections;
  const room = Math.floor((fdLimit - FD_RESERVE - 2 * cfg.smtp.maxClients) / 2);
  if (room < 1) {
    throw new MukaikaError('CONFIG_INVALID', `open-file limit ${fdLimit} (ulimit -n) leaves no room for HTTP next to smtp.maxClients ${cfg.smtp.maxClients}; raise the limit or lower smtp.maxClients`);
  }
  return Math.min(cfg.http.maxConnections, room);
}

/** Fastify and Node server options carrying the http.* timeouts (all 0, that is unlimited, by default). */
export function httpServerOptions(cfg: Config) {
  const h = cfg.http;
  return {
    logger: false,
    trustProxy: false,
    bodyLimit: h.maxUploadBytes,
    // Node's socket inactivity timeout: nothing read or written for this long.
    connectionTimeout: h.idleTimeoutMs,
    requestTimeout: h.requestTimeoutMs,
    keepAliveTimeout: h.keepAliveTimeoutMs,
    http: {
      headersTimeout: h.headersTimeoutMs,
      requestTimeout: h.requestTimeoutMs,
      // Node checks the headers and request timeouts on this interval (30 s by default), so a dripper would
      // otherwise outlive headersTimeoutMs by up to half a minute.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(h.headersTimeoutMs / 2))),
    },
  };
}

/** The per-address key: the address itself, or for IPv6 its /64 (one client usually holds a whole /64). */
export function addressKey(remote: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote)?.[1];
  if (mapped) return mapped;
  if (!isIPv6(remote)) return remote;
  const [head = '', tail = ''] = remote.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = remote.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** Caps on `server`: total connections (Node drops the excess at accept) and connections per address. */
export function limitConnections(server: Server, cfg: Config, log: Logger, fdLimit = openFileLimit()): void {
  const cap = httpConnectionCap(cfg, fdLimit);
  if (cap < cfg.http.maxConnections) {
    log.warn({ evt: EVT.HTTP_CAP_LOWERED, configured: cfg.http.maxConnections, effective: cap, fdLimit }, 'http.maxConnections lowered to fit the open-file limit');
  }
  server.maxConnections = cap;

  // One line per reason at most every 10 s, with the count: a flood must not become a log flood.
  const pending = new Map<string, { count: number; last: number; peer?: string }>();
  const note = (reason: string, peer?: string) => {
    const now = Date.now();
    const p = pending.get(reason) ?? { count: 0, last: 0 };
    p.count++;
    if (peer !== undefined) p.peer = peer;
    pending.set(reason, p);
    if (now - p.last < 10_000) return;
    log.warn({ evt: EVT.HTTP_CONN_REFUSED, reason, count: p.count, peer: p.peer }, 'http connections closed at accept');
    p.count = 0;
    p.last = now;
  };
  server.on('drop', () => note('maxConnections'));

  const perAddress = new Map<string, number>();
  server.on('connection', (socket) => {
    const key = addressKey(socket.remoteAddress ?? '');
    const n = (perAddress.get(key) ?? 0) + 1;
    if (n > cfg.http.maxConnectionsPerAddress) {
      socket.destroy();
      note('maxConnectionsPerAddress', key);
      return;
    }
    perAddress.set(key, n);
    socket.once('close', () => {
      const left = (perAddress.get(key) ?? 1) - 1;
      if (left > 0) perAddress.set(key, left);
      else perAddress.delete(key);
    });
  });
}

/** A Fastify instance with the http.* timeouts and connection caps in place. */
export function limitedFastify(ctx: { config: Config; log: Logger }): FastifyInstance {
  const app = Fastify(httpServerOptions(ctx.config));
  limitConnections(app.server, ctx.config, ctx.log);
  return app;
}
