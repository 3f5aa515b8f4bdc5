import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttp } from '../src/ingress/http.js';
import { probeSandbox, SANDBOX_UID } from '../src/isolation/sandbox.js';
import { startSanitizeWorker, type RunningWorker } from '../src/jobs/workers.js';
import { RedisChild } from './helpers/redis-child.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';

interface Ready {
  ready: boolean;
  failed: string[];
  checks: { sandbox: { ok: boolean; workers: { worker: string; mode: string; uid: number; refused: boolean }[] }; disk: { ok: boolean } };
}

describe('/readyz on the gateway: what it needs to take mail, and the sandbox mode the workers report', () => {
  let h: Harness;
  let worker: RunningWorker;
  beforeAll(async () => {
    h = await openHarness();
    worker = startSanitizeWorker(h.ctx);
  });
  afterAll(async () => {
    await worker?.close();
    await h?.close();
  });

  it('ready, with each live sanitize worker\'s sandbox mode and uid', async () => {
    const app = buildHttp(h.ctx);
    let body: Ready | undefined;
    await waitFor(async () => {
      body = (await app.inject({ method: 'GET', url: '/readyz' })).json<Ready>();
      return body.checks.sandbox.workers.length === 1;
    }, 20_000, 100);
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    body = res.json<Ready>();
    expect(body.ready).toBe(true);
    expect(body.failed).toEqual([]);
    const probe = probeSandbox();
    expect(body.checks.sandbox.workers.map((w) => [w.mode, w.uid, w.refused])).toEqual([[probe.mode, process.getuid?.() === 0 ? SANDBOX_UID : process.getuid?.(), false]]);
    await app.close();
  });

  it('not ready (503) naming the disk when the data disk is below the reserve', async () => {
    const low = await openHarness({ overrides: { smtp: { minFreeBytes: Number.MAX_SAFE_INTEGER } } });
    try {
      // A fresh producer connection is not ready at once (and /readyz says so): wait for it, then look at the disk.
      await waitFor(() => low.ctx.queues.ping(), 10_000, 50);
      const app = buildHttp(low.ctx);
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json<Ready>().failed).toEqual(['disk']);
      await app.close();
    } finally {
      await low.close();
    }
  });

  it('not ready (503) naming Redis when it does not answer; /healthz still answers', async () => {
    const port = await RedisChild.freePort();
    const down = await openHarness({ redisUrl: `redis://127.0.0.1:${port}` });
    try {
      const app = buildHttp(down.ctx);
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json<Ready>().failed).toEqual(['redis']);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      await app.close();
    } finally {
      await down.close();
    }
  });
});
