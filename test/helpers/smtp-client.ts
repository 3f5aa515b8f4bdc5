import net from 'node:net';

/** A raw SMTP client for tests: sends exactly the bytes given and returns each complete reply. */
export class RawSmtp {
  private socket!: net.Socket;
  private buffer = '';
  private waiters: ((reply: string) => void)[] = [];
  private replies: string[] = [];
  closed = false;

  static async connect(port: number, host = '127.0.0.1'): Promise<{ client: RawSmtp; greeting: string }> {
    const client = new RawSmtp();
    client.socket = net.connect(port, host);
    client.socket.on('data', (d) => client.onData(d.toString('latin1')));
    client.socket.on('close', () => {
      client.closed = true;
      for (const w of client.waiters.splice(0)) w('');
    });
    client.socket.on('error', () => undefined);
    const greeting = await client.reply();
    return { client, greeting };
  }

  private onData(s: string): void {
    this.buffer += s;
    // A reply ends with a line "NNN text" (space after the code, not a dash).
    for (;;) {
      const m = /^((?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n)/.exec(this.buffer);
      if (!m) break;
      this.buffer = this.buffer.slice(m[1]!.length);
      const reply = m[1]!.trimEnd();
      const w = this.waiters.shift();
      if (w) w(reply);
      else this.replies.push(reply);
    }
  }

  reply(timeoutMs = 20_000): Promise<string> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closed) return Promise.resolve('');
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no SMTP reply within timeout')), timeoutMs);
      this.waiters.push((r) => {
        clearTimeout(t);
        resolve(r);
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async cmd(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** MAIL, RCPTs, DATA, message (dot-stuffed here), final dot. Returns every reply in order. */
  async send(from: string, to: string[], message: string | Buffer): Promise<string[]> {
    const out = [await this.cmd(`MAIL FROM:<${from}>`)];
    for (const r of to) out.push(await this.cmd(`RCPT TO:<${r}>`));
    const data = await this.cmd('DATA');
    out.push(data);
    if (!data.startsWith('354')) return out;
    const body = Buffer.isBuffer(message) ? message.toString('latin1') : message;
    const stuffed = body.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    this.write(Buffer.from(`${stuffed.endsWith('\r\n') ? stuffed : `${stuffed}\r\n`}.\r\n`, 'latin1'));
    out.push(await this.reply());
    return out;
  }

  close(): void {
    this.socket.end();
  }
}

/**
 * One mail over a fresh session (EHLO, MAIL, RCPT, DATA, QUIT-less close), as an MTA relays it: the id of
 * `250 2.0.0 queued as <id>`, or an error carrying whatever else the server answered.
 */
export async function queueOverSmtp(port: number, from: string, to: string[], message: string | Buffer): Promise<string> {
  const { client } = await RawSmtp.connect(port);
  await client.cmd('EHLO mta.example');
  const reply = (await client.send(from, to, message)).at(-1) ?? '';
  client.close();
  const id = /^250 2\.0\.0 queued as (m[0-9a-f]{24})$/.exec(reply)?.[1];
  if (!id) throw new Error(`not queued: ${reply}`);
  return id;
}
