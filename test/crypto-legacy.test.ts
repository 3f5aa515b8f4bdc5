import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { minimalDocx } from '../bench/office-docx.js';
import { closeOfficePool } from '../src/sanitize/office/index.js';
import { dispatch, testContext } from './archive-fixtures.js';

/**
 * Legacy binary encryption (Word/Excel 97-2003 "password to open", RC4 CryptoAPI) as LibreOffice writes it.
 * The fixtures are made here by LibreOffice itself (a one-off UNO script, outside any sandbox: test only).
 */
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-legacy-'));
const hasUno = existsSync('/usr/lib/python3/dist-packages/uno.py');
const PASSWORD = 'himitsu';

const SCRIPT = `
import subprocess, sys, time, uno
from com.sun.star.beans import PropertyValue
def prop(n, v):
    p = PropertyValue(); p.Name = n; p.Value = v; return p
tmp, password = sys.argv[1], sys.argv[2]
proc = subprocess.Popen(["/usr/lib/libreoffice/program/soffice.bin", "--headless", "--invisible", "--norestore",
    "-env:UserInstallation=file://" + tmp + "/profile", "--accept=pipe,name=mklegacy;urp;"])
local = uno.getComponentContext()
resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
for _ in range(1200):
    try:
        ctx = resolver.resolve("uno:pipe,name=mklegacy;urp;StarOffice.ComponentContext"); break
    except Exception:
        if proc.poll() == 81:
            proc = subprocess.Popen(proc.args)
        time.sleep(0.1)
desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
for src, flt, out in [("in.docx", "MS Word 97", "enc.doc"), ("in.csv", "MS Excel 97", "enc.xls")]:
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(tmp + "/" + src), "_blank", 0, (prop("Hidden", True),))
    doc.storeToURL(uno.systemPathToFileUrl(tmp + "/" + out), (prop("FilterName", flt), prop("Password", password)))
    doc.close(True)
desktop.terminate()
proc.wait()
`;

afterAll(async () => {
  await closeOfficePool();
  rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!hasUno)('legacy encrypted .doc / .xls', () => {
  const ctx = testContext();
  let made = false;
  const make = async (): Promise<void> => {
    if (made) return;
    writeFileSync(path.join(tmp, 'in.docx'), await minimalDocx(['旧形式の文書', 'Word 97-2003']));
    writeFileSync(path.join(tmp, 'in.csv'), '品名,数量\nりんご,3\n');
    writeFileSync(path.join(tmp, 'make.py'), SCRIPT);
    execFileSync('/usr/bin/python3', [path.join(tmp, 'make.py'), tmp, PASSWORD], { stdio: 'ignore', timeout: 150_000 });
    made = true;
  };

  for (const file of ['enc.doc', 'enc.xls']) {
    it(`${file}: held ENCRYPTED, WRONG_PASSWORD, then converted with the password`, { timeout: 300_000 }, async () => {
      await make();
      const bytes = readFileSync(path.join(tmp, file));
      const part = (password?: string) => ({ name: file, declaredType: '', bytes, depth: 0, ...(password !== undefined ? { password } : {}) });
      expect(await dispatch(part(), ctx)).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
      expect(await dispatch(part('wrong'), ctx)).toMatchObject({ action: 'held', reason: 'WRONG_PASSWORD' });
      expect(await dispatch(part(PASSWORD), ctx)).toMatchObject({ action: 'converted', reason: 'OFFICE_CONVERTED' });
    });
  }
});
