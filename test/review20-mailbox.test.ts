import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpTransport } from '../src/deliver/smtp-transport.js';
import { parseMailbox } from '../src/domain/mailbox.js';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { openHarness, type Harness } from './helpers/harness.js';

/**
 * A bare TCP SMTP peer that answers 250 to everything and records each command line as sent: unlike
 * smtp-server it does not parse addresses, so it shows exactly what the relay's client put on the wire.
 */
async function recordingRelay(): Promise<{ port: number; lines: string[]; close(): Promise<void> }> {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.write('220 relay ESMTP\r\n');
    let buf = '';
    let inData = false;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') { inData = false; s.write('250 2.0.0 ok\r\n'); }
          continue;
        }
        lines.push(line);
        if (/^EHLO /i.test(line)) s.write('250-relay\r\n250 PIPELINING\r\n');
        else if (line === 'DATA') { inData = true; s.write('354 go\r\n'); } else if (line === 'QUIT') s.end('221 bye\r\n');
        else s.write('250 2.1.0 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    lines,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** A quoted local part with each printable ASCII character inside, plus spaces at the edges. */
const QUOTED: string[] = [
  ...Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).map((c) => `"a${c === '"' || c === '\\' ? `\\${c}` : c}b"@example.lg.jp`),
  '""@example.lg.jp', '" "@example.lg.jp', '"  "@example.lg.jp', '" a"@example.lg.jp', '"a "@example.lg.jp',
  '"a  b"@example.lg.jp', '"<a>"@example.lg.jp', '"\\<a"@example.lg.jp', '"a..b"@example.lg.jp', '".a."@example.lg.jp',
];

describe('every address the parser takes reaches the relay as exactly that mailbox', () => {
  let relay: Awaited<ReturnType<typeof recordingRelay>>;
  let transport: SmtpTransport;
  beforeAll(async () => {
    relay = await recordingRelay();
    transport = new SmtpTransport(`smtp://127.0.0.1:${relay.port}`, 5000);
  });
  afterAll(async () => {
    transport?.close();
    await relay?.close();
  });

  it('RCPT on the wire and the delivery report both equal the stored address, for every quoted form taken', async () => {
    const taken = QUOTED.map((q) => parseMailbox(q)?.address).filter((a): a is string => a !== undefined);
    expect(taken.length).toBeGreaterThan(80);
    for (const address of taken) {
      relay.lines.length = 0;
      const out = await transport.send({ from: 'gw@example.lg.jp', to: [address] }, Buffer.from('Subject: x\r\n\r\nx\r\n'));
      expect(relay.lines.filter((l) => l.startsWith('RCPT ')), address).toEqual([`RCPT TO:<${address}>`]);
      expect(out, address).toEqual({ delivered: [{ recipient: address, response: '250 2.0.0 ok' }], failed: [], deferred: [] });
    }
  });

  it('refuses the quoted forms the relay client would rewrite into another mailbox', () => {
    for (const q of ['"a<b"@example.lg.jp', '"a>b"@example.lg.jp', '" "@example.lg.jp', '" a"@example.lg.jp', '"a "@example.lg.jp', '"<a>"@example.lg.jp', '"\\<a"@example.lg.jp']) {
      expect(parseMailbox(q), q).toBeUndefined();
    }
    // Spaces inside stay legal: they are carried as they are.
    expect(parseMailbox('"john  doe"@example.lg.jp')?.address).toBe('"john  doe"@example.lg.jp');
    expect(parseMailbox('""@example.lg.jp')?.address).toBe('""@example.lg.jp');
  });
});

describe('the API refuses those forms with 400 before anything is stored', () => {
  const TOKEN = 'review20-mailbox-token-0123456789';
  let h: Harness;
  let app: ReturnType<typeof buildHttp>;
  beforeAll(async () => {
    h = await openHarness({ overrides: { http: { tokenHashes: [hashToken(TOKEN)] } } });
    app = buildHttp(h.ctx);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await h?.close();
  });

  it('to= with " staff"@, "staff "@ or "a<b"@ (alone or next to a good one) is 400 and writes no record', async () => {
    for (const to of ['" staff"@example.lg.jp', '"staff "@example.lg.jp', 'staff@example.lg.jp," staff"@example.lg.jp', '"a<b"@example.lg.jp']) {
      const res = await app.inject({
        method: 'POST', url: `/api/v1/messages?from=a%40example.com&to=${encodeURIComponent(to)}`,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'message/rfc822' }, payload: 'Subject: x\r\n\r\nx\r\n',
      });
      expect(res.statusCode, to).toBe(400);
      expect(res.json(), to).toEqual({ error: 'BAD_RECIPIENT_ADDRESS', message: 'bad recipient address syntax' });
    }
    const rows = await h.ctx.database.db.selectFrom('messages').select('id').execute();
    expect(rows).toEqual([]);
  });
});
