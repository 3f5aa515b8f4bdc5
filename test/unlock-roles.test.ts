import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../src/ingress/http.js';
import { UNLOCK_KEY_FILE } from '../src/queue/unlock-seal.js';
import { roleEnv, startGateway, startWorker, type RoleEnv, type RoleProcess } from './helpers/fault-roles.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { queueOverSmtp } from './helpers/smtp-client.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const TOKEN = 'roles-token-0123456789abcdef';

/**
 * Gateway and workers as separate processes with separate data dirs (only Redis and the database shared,
 * as on separate hosts): the unlock typed at the gateway is done by the sanitize worker, which alone holds
 * the unlock key (docs/DESIGN.md, "Unlock through the worker").
 */
describe('PPAP unlock across role processes', () => {
  let h: Harness;
  let sink: SmtpSink;
  let re: RoleEnv;
  let workerDir: string;
  const procs: RoleProcess[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-roles-'));

  beforeAll(async () => {
    h = await openHarness();
    sink = await SmtpSink.start();
    re = await roleEnv(h, sink.url, { siteSecret: 'roles-test-secret-0123456789abcdef', http: { tokenHashes: [hashToken(TOKEN)] }, sanitize: { unlockMaxAttempts: 3 } });
    workerDir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-roles-worker-'));
    const workerEnv = { ...re, env: { ...re.env, MUKAIKA_DATA_DIR: workerDir } };
    procs.push(await startGateway(re), startWorker(workerEnv, 'sanitize'), startWorker(workerEnv, 'deliver'));
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) await p.stop();
    await sink.close();
    await h.close();
    rmSync(workerDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('wrong password 422, right one 200 and a follow-up mail; only the worker holds the key', async () => {
    writeFileSync(path.join(tmp, 'report.csv'), '令和8年度 予算資料\n');
    execFileSync('zip', ['-q', '-j', '-P', 'cross-host-PW', path.join(tmp, 'p.zip'), path.join(tmp, 'report.csv')]);
    const zip = readFileSync(path.join(tmp, 'p.zip'));
    const raw = [
      'From: vendor@example.com', 'To: staff@example.lg.jp', 'Subject: roles', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
      '--b1', 'Content-Type: text/plain; charset=utf-8', '', 'see attachment', '',
      '--b1', 'Content-Type: application/zip; name="p.zip"', 'Content-Disposition: attachment; filename="p.zip"',
      'Content-Transfer-Encoding: base64', '', zip.toString('base64'), '--b1--', '',
    ].join('\r\n');
    const id = await queueOverSmtp(re.smtpPort, 'vendor@example.com', ['staff@example.lg.jp'], raw);
    await waitFor(() => sink.mails.find((m) => m.raw.toString().includes(`X-Mukaika-ID: ${id}\r\n`)), 60_000);
    const url = `http://127.0.0.1:${re.env.HTTP_PORT}/api/v1/messages/${id}/parts/0/unlock`;
    const post = (password: string) => fetch(url, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ password }),
    });
    // The worker publishes its key once it runs; until then the gateway answers 503.
    const wrong = await waitFor(async () => {
      const r = await post('not-it');
      return r.status === 503 ? undefined : r;
    }, 60_000, 300);
    expect(wrong.status).toBe(422);
    expect(await wrong.json()).toMatchObject({ error: 'WRONG_PASSWORD' });
    const right = await post('cross-host-PW');
    expect(right.status).toBe(200);
    expect(await right.json()).toMatchObject({ id, status: 'unlocked', batch: 1 });
    const follow = await waitFor(() => sink.mails.find((m) => m.raw.toString().includes(`X-Mukaika-ID: ${id}-u1`)), 60_000);
    expect((await simpleParser(follow.raw)).subject).toBe('[解除済] roles');
    const rows = await h.ctx.database.db.selectFrom('unlocks').select(['failures', 'status', 'in_flight']).where('message_id', '=', id).execute();
    expect(rows).toEqual([{ failures: 1, status: 'unlocked', in_flight: 0 }]);
    expect(existsSync(path.join(workerDir, UNLOCK_KEY_FILE))).toBe(true);
    expect(existsSync(path.join(h.dir, UNLOCK_KEY_FILE))).toBe(false);
  }, 180_000);
});
