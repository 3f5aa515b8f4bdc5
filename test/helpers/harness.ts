import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { closeContext, openContext, type Context } from '../../src/context.js';
import { startSmtp, type SmtpIngress } from '../../src/ingress/smtp.js';
import { startDeliverWorker, startSanitizeWorker, type RunningWorker } from '../../src/jobs/workers.js';
import { silentLogger } from '../../src/log.js';
import { SmtpSink } from './smtp-sink.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const PG_URL = process.env.MUKAIKA_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

type Tree = Record<string, unknown>;

export interface Harness {
  dir: string;
  config: Config;
  ctx: Context;
  prefix: string;
  close(): Promise<void>;
}

/** A private data dir, queue prefix and (for postgres) schema per test file: no shared state. */
export async function openHarness(opts: { db?: 'sqlite' | 'postgres'; overrides?: Tree; redisUrl?: string } = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-test-'));
  const prefix = `mkt${randomBytes(5).toString('hex')}`;
  const databaseUrl = opts.db === 'postgres' ? `${PG_URL}?schema=${prefix}` : `sqlite:${path.join(dir, 'db.sqlite')}`;
  const config = loadConfig({
    env: {},
    overrides: deepMerge({
      dataDir: dir,
      redisUrl: opts.redisUrl ?? REDIS_URL,
      databaseUrl,
      log: { level: 'silent' },
      smtp: { port: 0, acceptDomains: ['example.lg.jp'], minFreeBytes: 0 },
      http: { port: 0 },
      web: { port: 0 },
      queue: { prefix, backoffMs: 200, attempts: 4, shutdownTimeoutMs: 3000 },
    }, opts.overrides ?? {}),
  });
  const ctx = await openContext(config, silentLogger);
  return {
    dir, config, ctx, prefix,
    async close() {
      await closeContext(ctx).catch(() => undefined);
      await dropRedisPrefix(REDIS_URL, prefix);
      if (opts.db === 'postgres') await dropPgSchema(prefix);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function deepMerge(a: Tree, b: Tree): Tree {
  const out: Tree = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = cur && typeof cur === 'object' && !Array.isArray(cur) && v && typeof v === 'object' && !Array.isArray(v)
      ? deepMerge(cur as Tree, v as Tree) : v;
  }
  return out;
}

export async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // Redis may be the thing a test stopped; nothing to clean then.
  } finally {
    redis.disconnect();
  }
}

export async function dropPgSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** Poll until `fn` returns a truthy value or the time is up. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 30_000, stepMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`waitFor timed out${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The whole mail path in one process: SMTP ingress, both workers, and a real SMTP sink as the LGWAN relay. */
export interface Flow {
  h: Harness;
  smtp: SmtpIngress;
  sink: SmtpSink;
  workers: RunningWorker[];
  close(): Promise<void>;
}

export async function openFlow(opts: { redisUrl?: string; overrides?: Tree; workers?: boolean; sink?: SmtpSink } = {}): Promise<Flow> {
  const sink = opts.sink ?? (await SmtpSink.start());
  const h = await openHarness({
    ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
    overrides: deepMerge({ lgwan: { smtpUrl: sink.url } }, opts.overrides ?? {}),
  });
  const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
  const flow: Flow = {
    h, smtp, sink, workers: opts.workers === false ? [] : [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)],
    async close() {
      await smtp.close();
      for (const w of flow.workers) await w.close();
      await sink.close();
      await h.close();
    },
  };
  return flow;
}

/**
 * `target` with some methods replaced, the others still bound to it (class instances with private fields
 * cannot be copied or used as a prototype): for injecting a race at one precise step of a real service.
 */
export function overriding<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof T];
      const v = Reflect.get(t, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** Every file under `dir` (full paths; none when it does not exist): what a refused or undone write left. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
}
