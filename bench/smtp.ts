/**
 * SMTP load benchmark (targets in BENCHMARKS.md): ≥ 1000 accepted/s (5 KB, 20 parallel sessions) with fsync + queue ack;
 * ≥ 300 text mails/s sanitized and delivered; p99 ≤ 1 s at 100 mails/s. Loopback only, fixed counts.
 *
 * Everything runs as in production, as separate processes: `mukaika gateway`, `mukaika worker sanitize`,
 * `mukaika worker deliver` (SQLite, the Redis at REDIS_URL with a private prefix, fsync on). The baseline is
 * a plain smtp-server that only drains (this file re-run with --serve-sink) driven by the same client: the
 * protocol floor. Results are printed as ratios against it.
 * CPU per mail is read from /proc for each role (and the gateway's main thread), Redis and this process.
 * Run: npm run bench:smtp [-- --mails 2000 --pdf-mails 20 --db postgres]
 * Profile the roles: ROLE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:smtp
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PDFDocument, StandardFonts, rgb } from 'pdf-lib';
import { Redis } from 'ioredis';
import { SMTPServer } from 'smtp-server';
import { ROLE_ENV } from '../src/runtime/supervisor.js';
import { mailWithAttachment, textMail } from '../test/helpers/fault-mta.js';
import { freePort, roleEnv, startGateway, startWorker, type RoleProcess } from '../test/helpers/fault-roles.js';
import { openHarness } from '../test/helpers/harness.js';
import { RawSmtp } from '../test/helpers/smtp-client.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};

/** A drain-only SMTP server that notes when each Mukaika id arrives (for end-to-end latency). */
function drainServer(port: number, arrivals?: Map<string, number>): Promise<SMTPServer> {
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], logger: false, disableReverseLookup: true, maxClients: 1000,
    onData(stream, _s, cb) {
      let head = '';
      stream.on('data', (c: Buffer) => { if (arrivals && head.length < 4096) head += c.toString('latin1'); });
      stream.on('end', () => {
        const id = /^X-Mukaika-Id:\s*(\S+)/im.exec(head)?.[1];
        if (id && arrivals) arrivals.set(id, Date.now());
        cb(null, 'queued as sink');
      });
    },
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv.includes('--serve-sink')) {
  await drainServer(arg('serve-sink', 0));
  process.stdout.write('ready\n');
  await new Promise(() => undefined);
}

interface Sent { id?: string; start: number; acceptedAt?: number }

/** `sessions` connections, each sending its share of `mails` back to back (optionally paced at `rate`/s in total). */
async function load(port: number, mails: string[], sessions: number, rate = 0): Promise<{ sent: Sent[]; seconds: number }> {
  const sent: Sent[] = [];
  const t0 = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: sessions }, async () => {
    const { client } = await RawSmtp.connect(port);
    await client.cmd('EHLO bench.example');
    for (;;) {
      const n = next++;
      if (n >= mails.length) break;
      if (rate) await sleep(Math.max(0, t0 + (n * 1000) / rate - Date.now()));
      const s: Sent = { start: Date.now() };
      const reply = (await client.send('bench@example.com', [`staff${n % 7}@example.lg.jp`], mails[n]!)).at(-1) ?? '';
      if (reply.startsWith('250')) {
        s.acceptedAt = Date.now();
        s.id = /queued as (\S+)$/.exec(reply)?.[1];
      }
      sent.push(s);
    }
    client.close();
  }));
  return { sent, seconds: (Date.now() - t0) / 1000 };
}

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]! : NaN);
const acceptLat = (s: Sent[]) => s.filter((x) => x.acceptedAt).map((x) => x.acceptedAt! - x.start);
const rssKb = (p: RoleProcess) => {
  try {
    const st = readFileSync(`/proc/${p.proc.pid}/status`, 'utf8');
    return { rss: Number(/VmRSS:\s+(\d+)/.exec(st)?.[1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(st)?.[1]) };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
};

/** CPU seconds (user + system) a process has used so far, from /proc (NaN when gone or not ours to read). */
const cpuSeconds = (pid: number | undefined, mainThreadOnly = false) => {
  try {
    const f = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
};
async function redisPid(url: string): Promise<number | undefined> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    return Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]) || undefined;
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

async function threePagePdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let p = 1; p <= 3; p++) {
    const page = doc.addPage([595, 842]);
    for (let l = 0; l < 40; l++) page.drawText(`Page ${p} line ${l}: quarterly figures and notes for the committee`, { x: 40, y: 800 - l * 19, size: 11, font });
    page.drawRectangle({ x: 60, y: 60, width: 200, height: 80, color: rgb(0.2, 0.4, 0.8) });
  }
  return Buffer.from(await doc.save());
}

async function waitDelivered(arrivals: Map<string, number>, ids: string[], timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && ids.some((id) => !arrivals.has(id))) await sleep(50);
  return ids.filter((id) => arrivals.has(id)).length;
}

const MAILS = arg('mails', 2000);
const PDF_MAILS = arg('pdf-mails', 20);
const SESSIONS = 20;
const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

console.log(`SMTP load benchmark (${process.argv.includes('postgres') ? 'PostgreSQL' : 'SQLite'}, roles' UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? ROLE_ENV.UV_THREADPOOL_SIZE}) — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, loadavg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const DB = process.argv.includes('postgres') ? 'postgres' : 'sqlite';
const h = await openHarness({ db: DB });
const arrivals = new Map<string, number>();
const relayPort = await freePort();
const relay = await drainServer(relayPort, arrivals);
const re = await roleEnv(h, `smtp://127.0.0.1:${relayPort}`, { log: { level: 'warn' } });
const procs: RoleProcess[] = [];
const sinkPort = await freePort();
const sinkProc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve-sink', String(sinkPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
const guard = setTimeout(() => { console.error('benchmark took over 15 minutes: stopping'); process.exit(3); }, 15 * 60_000);
try {
  await new Promise((r) => sinkProc.stdout!.once('data', r));
  const text = Array.from({ length: MAILS }, (_, n) => textMail(`bench-${Date.now()}`, n, 5000));

  // 1. The protocol floor and the gateway's intake alone (workers stopped, so intake has the machine).
  const floor = await load(sinkPort, text, SESSIONS);
  const gw = await startGateway(re);
  procs.push(gw);
  const rPid = await redisPid(h.config.redisUrl);
  const gwCpu0 = [cpuSeconds(gw.proc.pid), cpuSeconds(gw.proc.pid, true), cpuSeconds(rPid), cpuSeconds(process.pid)] as const;
  const intake = await load(re.smtpPort, text, SESSIONS);
  const gwCpu = [cpuSeconds(gw.proc.pid), cpuSeconds(gw.proc.pid, true), cpuSeconds(rPid), cpuSeconds(process.pid)].map((v, i) => f((v - gwCpu0[i]!) * 1000 / MAILS, 2));
  const ok = intake.sent.filter((s) => s.id);
  console.log(`\n5 KB text, ${SESSIONS} sessions, ${MAILS} mails`);
  console.log(`  plain sink (floor): ${f(MAILS / floor.seconds)} accepted/s, p50 ${pct(acceptLat(floor.sent), 0.5)} ms, p99 ${pct(acceptLat(floor.sent), 0.99)} ms`);
  console.log(`  gateway (fsync + record + queue ack): ${f(ok.length / intake.seconds)} accepted/s (${ok.length}/${MAILS} 250), p50 ${pct(acceptLat(intake.sent), 0.5)} ms, p99 ${pct(acceptLat(intake.sent), 0.99)} ms`);
  console.log(`  CPU ms per accepted mail: gateway ${gwCpu[0]} (main thread ${gwCpu[1]}), redis ${gwCpu[2]}, bench client ${gwCpu[3]}`);
  console.log(`  ratio gateway/floor: ${f(floor.seconds / intake.seconds * (ok.length / MAILS), 2)}   target ≥ 1000/s: ${ok.length / intake.seconds >= 1000 ? 'met' : 'MISSED'}`);

  // 2. Drain the backlog: sanitized and delivered per second, workers as processes.
  const tDrain = Date.now();
  procs.push(startWorker(re, 'sanitize'), startWorker(re, 'deliver'));
  const cpuOf = () => ({ gateway: cpuSeconds(gw.proc.pid), sanitize: cpuSeconds(procs[1]!.proc.pid), deliver: cpuSeconds(procs[2]!.proc.pid), redis: cpuSeconds(rPid), 'bench (relay + client)': cpuSeconds(process.pid) });
  const cpu0 = cpuOf();
  let peak = { sanitize: 0, deliver: 0 };
  const sampler = setInterval(() => {
    peak = { sanitize: Math.max(peak.sanitize, rssKb(procs[1]!).rss || 0), deliver: Math.max(peak.deliver, rssKb(procs[2]!).rss || 0) };
  }, 200);
  const ids = ok.map((s) => s.id!);
  const delivered = await waitDelivered(arrivals, ids, 8 * 60_000);
  const drainS = (Math.max(...ids.map((id) => arrivals.get(id) ?? 0)) - tDrain) / 1000;
  const cpu1 = cpuOf();
  const cpuMs = Object.entries(cpu1).map(([k, v]) => `${k} ${f((v - cpu0[k as keyof typeof cpu0]) * 1000 / Math.max(1, delivered), 2)}`).join(', ');
  const times = ids.map((id) => arrivals.get(id)).filter((t): t is number => t !== undefined);
  const sustainedS = (Math.max(...times) - Math.min(...times)) / 1000;
  console.log(`  sanitized + delivered (backlog, worker start included): ${delivered}/${ids.length} in ${f(drainS, 1)} s = ${f(delivered / drainS)} mails/s   target ≥ 300/s: ${delivered / drainS >= 300 ? 'met' : 'MISSED'}`);
  console.log(`  sustained (first to last arrival at the relay, start-up excluded): ${f((delivered - 1) / sustainedS)} mails/s`);
  console.log(`  CPU ms per delivered mail while draining (start-up included): ${cpuMs}`);

  // 3. Paced 100 mails/s for 10 s with every role running.
  const paced = Array.from({ length: 1000 }, (_, n) => textMail(`paced-${Date.now()}`, n, 5000));
  const p = await load(re.smtpPort, paced, SESSIONS, 100);
  const pIds = p.sent.filter((s) => s.id);
  await waitDelivered(arrivals, pIds.map((s) => s.id!), 120_000);
  const e2e = pIds.filter((s) => arrivals.has(s.id!)).map((s) => arrivals.get(s.id!)! - s.start);
  console.log(`\nPaced 100 mails/s × 10 s (5 KB): accept p50 ${pct(acceptLat(p.sent), 0.5)} ms p99 ${pct(acceptLat(p.sent), 0.99)} ms; end to end (250 → relay) p50 ${pct(e2e, 0.5)} ms p99 ${pct(e2e, 0.99)} ms (${e2e.length}/1000 delivered)   target p99 ≤ 1 s: ${pct(e2e, 0.99) <= 1000 ? 'met' : 'MISSED'}`);

  // 4. Mails carrying a 3-page PDF (rendered and flattened in the isolated renderer).
  const pdf = await threePagePdf();
  const pdfMails = Array.from({ length: PDF_MAILS }, (_, n) => mailWithAttachment(`pdf-${Date.now()}`, n, `report${n}.pdf`, 'application/pdf', pdf));
  const pfloor = await load(sinkPort, pdfMails, Math.min(SESSIONS, PDF_MAILS));
  const tPdf = Date.now();
  const pl = await load(re.smtpPort, pdfMails, Math.min(SESSIONS, PDF_MAILS));
  const pdfIds = pl.sent.filter((s) => s.id).map((s) => s.id!);
  const pdfDelivered = await waitDelivered(arrivals, pdfIds, 5 * 60_000);
  const pdfS = (Math.max(...pdfIds.map((id) => arrivals.get(id) ?? 0)) - tPdf) / 1000;
  const pdfE2e = pl.sent.filter((s) => s.id && arrivals.has(s.id)).map((s) => arrivals.get(s.id!)! - s.start);
  console.log(`\n3-page PDF (${(pdf.length / 1024).toFixed(0)} KB), ${PDF_MAILS} mails: floor ${f(PDF_MAILS / pfloor.seconds)} accepted/s, gateway ${f(pdfIds.length / pl.seconds)} accepted/s (ratio ${f(pfloor.seconds / pl.seconds, 2)}); delivered ${pdfDelivered} in ${f(pdfS, 1)} s = ${f(pdfDelivered / pdfS, 2)} mails/s; end to end p50 ${pct(pdfE2e, 0.5)} ms p99 ${pct(pdfE2e, 0.99)} ms`);
  clearInterval(sampler);
  const hw = { gateway: rssKb(gw).hwm, sanitize: rssKb(procs[1]!).hwm, deliver: rssKb(procs[2]!).hwm };
  console.log(`\nRSS peak (VmHWM, MB): gateway ${f(hw.gateway / 1024)}, sanitize worker ${f(hw.sanitize / 1024)}, deliver worker ${f(hw.deliver / 1024)} (renderer children are separate, capped processes)`);
} finally {
  clearTimeout(guard);
  await Promise.all(procs.map((x) => x.stop()));
  sinkProc.kill('SIGTERM');
  await new Promise((r) => relay.close(() => r(undefined)));
  await h.close();
}
