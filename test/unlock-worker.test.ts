import { statSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unlockKeyName } from '../src/queue/queues.js';
import { loadUnlockKey, openPassword, sealPassword, UNLOCK_KEY_FILE } from '../src/queue/unlock-seal.js';
import { openFlow, REDIS_URL, waitFor, type Flow } from './helpers/harness.js';

const PASSWORD = 'Pl41n-PPAP-パスワード-must-never-be-seen';

describe('unlock through the worker (docs/DESIGN.md, "Unlock through the worker")', () => {
  let flow: Flow;
  beforeAll(async () => {
    flow = await openFlow();
  });
  afterAll(async () => flow.close());

  it('a sealed password opens only with the workers\' key, for its own part and deadline, unaltered', () => {
    const key = loadUnlockKey(flow.h.dir);
    expect(statSync(path.join(flow.h.dir, UNLOCK_KEY_FILE)).mode & 0o777).toBe(0o600);
    // Loaded again: the same key (the file is kept), so a restarted worker opens what was sealed before.
    expect(loadUnlockKey(flow.h.dir).kid).toBe(key.kid);
    const sealed = sealPassword(key.publicKeyPem, PASSWORD, 'm1', 0, 1_000);
    expect(JSON.stringify(sealed)).not.toContain('PPAP');
    expect(openPassword(key, sealed, 'm1', 0, 1_000)).toBe(PASSWORD);
    expect(() => openPassword(key, sealed, 'm1', 1, 1_000)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => openPassword(key, sealed, 'm2', 0, 1_000)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => openPassword(key, sealed, 'm1', 0, 2_000)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    const flipped = { ...sealed, ct: Buffer.from(Buffer.from(sealed.ct, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64') };
    expect(() => openPassword(key, flipped, 'm1', 0, 1_000)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => openPassword(key, { ...sealed, kid: '0000000000000000' }, 'm1', 0, 1_000)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it('the worker publishes its public key; Redis never sees the password in plaintext; the worker\'s verdict comes back', async () => {
    const key = loadUnlockKey(flow.h.dir);
    const redis = new Redis(REDIS_URL);
    const published = await waitFor(() => redis.get(unlockKeyName(flow.h.prefix)));
    expect(published).toBe(key.publicKeyPem);
    // Every command any client sends to Redis while the unlock runs.
    const monitorClient = new Redis(REDIS_URL);
    const monitor = await monitorClient.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')));
    try {
      await expect(flow.h.ctx.queues.requestUnlock('no-such-record', 0, PASSWORD, 20_000)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      monitor.disconnect();
      monitorClient.disconnect();
    }
    expect(seen.some((c) => c.includes(':unlock:'))).toBe(true);
    for (const needle of [PASSWORD, Buffer.from(PASSWORD).toString('base64'), Buffer.from(PASSWORD).toString('hex'), 'パスワード']) {
      expect(seen.filter((c) => c.includes(needle))).toEqual([]);
    }
    // Nothing sealed is left behind: the job is gone (or kept briefly without its seal).
    const keys = await redis.keys(`${flow.h.prefix}:unlock:*`);
    for (const k of keys) {
      if ((await redis.type(k)) !== 'hash') continue;
      const data = await redis.hget(k, 'data');
      if (data) expect(JSON.parse(data)).toMatchObject({ sealed: null });
    }
    redis.disconnect();
  });

  it('a request whose caller stopped waiting is not tried: RECORD_NOT_READY, nothing counted', async () => {
    // A wait shorter than a worker can answer: the job expires before (or as) the worker takes it.
    await expect(flow.h.ctx.queues.requestUnlock('no-such-record', 0, PASSWORD, 1)).rejects.toMatchObject({ code: 'RECORD_NOT_READY' });
    expect(await flow.h.ctx.database.db.selectFrom('unlocks').selectAll().execute()).toEqual([]);
  });
});
