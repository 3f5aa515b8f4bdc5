import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A PPAP zip made the way senders make them: Info-ZIP's `zip -P`, one `report.csv` of `csv` inside. */
export function ppapZip(password: string, csv: string): Buffer {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-ppap-'));
  try {
    writeFileSync(path.join(tmp, 'report.csv'), csv);
    execFileSync('zip', ['-q', '-j', '-P', password, path.join(tmp, 'ppap.zip'), path.join(tmp, 'report.csv')]);
    return readFileSync(path.join(tmp, 'ppap.zip'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A mail to staff@example.lg.jp with a text body and the zip attached as `shiryou.zip`. */
export function ppapMail(zip: Buffer, subject: string, body: string, messageId = `${subject}@example.com`): string {
  return [
    'From: vendor@example.com', 'To: staff@example.lg.jp', `Subject: ${subject}`, `Message-ID: <${messageId}>`,
    'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain; charset=utf-8', '', body, '',
    '--b1', 'Content-Type: application/zip; name="shiryou.zip"', 'Content-Disposition: attachment; filename="shiryou.zip"',
    'Content-Transfer-Encoding: base64', '', zip.toString('base64').replace(/.{76}/g, '$&\r\n'), '--b1--', '',
  ].join('\r\n');
}
