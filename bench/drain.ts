/**
 * Relay outage and drain benchmark: mails queued while the LGWAN relay is down, then the time
 * to deliver the backlog once it is back. Roles run as in production, as separate processes (`mukaika
 * gateway`, `mukaika worker sanitize`, `mukaika worker deliver`; SQLite, the Redis at REDIS_URL with a
 * private prefix), with the default delivery settings (probe delay capped at lgwan.probeMaxDelayMs, 60 s).
 *
 * Baseline: the same kind of backlog drained by a deliver worker started with the relay up (no breaker
 * involved). During the outage the relay's port accepts TCP and drops it at once, so the connections the
 * gateway makes to a dead relay can be counted (the circuit breaker should make them a handful).
 * Run: npm run bench:drain [-- --mails 10000 --outage-s 600 --baseline-mails 2000]
 */
import net from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer } from 'smtp-server';
import { textMail } from '../test/helpers/fault-mta.js';
import { freePort, roleEnv, startGateway, startWorker, type RoleProcess } from '../test/helpers/fault-roles.js';
import { openHarness } from '../test/helpers/harness.js';
import { RawSmtp } from '../test/helpers/smtp-client.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const MAILS = arg('mails', 10_000);
const OUTAGE_S = arg('outage-s', 600);
const BASELINE = arg('baseline-mails', 2000);
const SESSIONS = 20;
const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

/** The relay: notes when each Mukaika id arrives. */
function relayServer(port: number, arrivals: Map<string, number>): Promise<SMTPServer> {
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], logger: false, disableReverseLookup: true, maxClients: 1000,
    onData(stream, _s, cb) {
      let head = '';
      stream.on('data', (c: Buffer) => { if (head.length < 4096) head += c.toString('latin1'); });
      stream.on('end', () => {
        const id = /^X-Mukaika-Id:\s*(\S+)/im.exec(head)?.[1];
        if (id && !arrivals.has(id)) arrivals.set(id, Date.now());
        cb(null, 'queued as relay');
      });
    },
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

/** A dead relay that still accepts TCP: every connection is counted and dropped. */
async function deadRelay(port: number): Promise<{ count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = net.createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { count: () => n, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function send(port: number, mails: string[]): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: SESSIONS }, async () => {
    const { client } = await RawSmtp.connect(port);
    await client.cmd('EHLO bench.example');
    for (;;) {
      const n = next++;
      if (n >= mails.length) break;
      const reply = (await client.send('bench@example.com', [`staff${n % 7}@example.lg.jp`], mails[n]!)).at(-1) ?? '';
      const id = /queued as (\S+)$/.exec(reply)?.[1];
      if (id) ids.push(id);
    }
    client.close();
  }));
  return ids;
}

async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return true;
    await sleep(200);
  }
  return false;
}

console.log(`Drain benchmark — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, loadavg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const h = await openHarness();
const relayPort = await freePort();
// roleEnv shortens the backoff for the fault suite; this benchmark keeps the shipped queue defaults.
const re = await roleEnv(h, `smtp://127.0.0.1:${relayPort}`, { log: { level: 'warn' }, queue: { prefix: h.prefix, shutdownTimeoutMs: 5000 } });
const procs: RoleProcess[] = [];
const arrivals = new Map<string, number>();
const pendingRows = async () => Number((await h.ctx.database.db.selectFrom('deliveries')
  .select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow()).n);
const guard = setTimeout(() => { console.error('benchmark took too long: stopping'); process.exit(3); }, (OUTAGE_S + 20 * 60) * 1000);
let relay: SMTPServer | undefined;
try {
  const gw = await startGateway(re);
  procs.push(gw, startWorker(re, 'sanitize'));

  // 1. Baseline: a backlog sanitized with no deliver worker, then drained by one started with the relay up.
  relay = await relayServer(relayPort, arrivals);
  const base = await send(re.smtpPort, Array.from({ length: BASELINE }, (_, n) => textMail(`base-${Date.now()}`, n, 5000)));
  await until(async () => (await pendingRows()) >= base.length, 10 * 60_000);
  const tBase = Date.now();
  const baseWorker = startWorker(re, 'deliver');
  procs.push(baseWorker);
  await until(() => base.every((id) => arrivals.has(id)), 10 * 60_000);
  const baseTimes = base.map((id) => arrivals.get(id)!);
  const baseSustained = (base.length - 1) / ((Math.max(...baseTimes) - Math.min(...baseTimes)) / 1000);
  console.log(`\nbaseline: ${base.length} mails waiting, deliver worker started with the relay up: all delivered ${f((Math.max(...baseTimes) - tBase) / 1000, 1)} s after its start, sustained ${f(baseSustained)} mails/s`);
  await new Promise<void>((r) => relay!.close(() => r()));
  relay = undefined;

  // 2. The outage: the relay drops every connection; mails keep coming and are sanitized meanwhile.
  const dead = await deadRelay(relayPort);
  const tDown = Date.now();
  const ids = await send(re.smtpPort, Array.from({ length: MAILS }, (_, n) => textMail(`drain-${Date.now()}`, n, 5000)));
  const intakeS = (Date.now() - tDown) / 1000;
  await until(async () => (await pendingRows()) >= ids.length, OUTAGE_S * 1000 + 10 * 60_000);
  const sanitizedS = (Date.now() - tDown) / 1000;
  const left = OUTAGE_S * 1000 - (Date.now() - tDown);
  if (left > 0) await sleep(left);
  const outageS = (Date.now() - tDown) / 1000;
  const connections = dead.count();
  const failed = Number((await h.ctx.database.db.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'failed').executeTakeFirstOrThrow()).n);
  await dead.close();
  console.log(`\noutage ${f(outageS)} s: ${ids.length}/${MAILS} mails accepted in ${f(intakeS, 1)} s, all sanitized and waiting after ${f(sanitizedS, 1)} s; `
    + `${connections} connections reached the dead relay; ${failed} deliveries recorded failed`);

  // 3. The relay is back: how soon is that noticed, how fast does the backlog drain.
  const tUp = Date.now();
  relay = await relayServer(relayPort, arrivals);
  const all = await until(() => ids.every((id) => arrivals.has(id)), 30 * 60_000);
  const times = ids.map((id) => arrivals.get(id)).filter((t): t is number => t !== undefined);
  const first = Math.min(...times);
  const last = Math.max(...times);
  const sustained = (times.length - 1) / ((last - first) / 1000);
  console.log(`relay back: first delivery after ${f((first - tUp) / 1000, 1)} s (the breaker's next probe; capped by lgwan.probeMaxDelayMs), `
    + `${times.length}/${ids.length} delivered ${f((last - tUp) / 1000, 1)} s after the relay came back${all ? '' : ' (TIMED OUT)'}`);
  console.log(`  drain rate (first to last delivery): ${f(sustained)} mails/s = ${f(sustained / baseSustained, 2)} × baseline`);
  // Arrival order: how far each mail's delivery is from its place in line (deliver-queue arrival).
  const jobs = await Promise.all(ids.map((id) => h.ctx.queues.deliver.getJob(`${id}-b0`)));
  const queued = new Map(jobs.filter((j) => j).map((j) => [j!.data.id, j!.timestamp]));
  const byQueue = [...ids].sort((a, b) => (queued.get(a) ?? 0) - (queued.get(b) ?? 0));
  const byArrival = [...ids].filter((id) => arrivals.has(id)).sort((a, b) => arrivals.get(a)! - arrivals.get(b)!);
  const pos = new Map(byQueue.map((id, i) => [id, i]));
  const disp = byArrival.map((id, i) => Math.abs(pos.get(id)! - i)).sort((a, b) => a - b);
  console.log(`  order: delivery position vs queue position, median ${disp[Math.floor(disp.length / 2)]}, p99 ${disp[Math.floor(disp.length * 0.99)]}, max ${disp.at(-1)} places`);
} finally {
  clearTimeout(guard);
  await Promise.all(procs.map((x) => x.stop()));
  if (relay) await new Promise<void>((r) => relay!.close(() => r()));
  await h.close();
}
