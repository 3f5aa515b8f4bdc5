/**
 * Child side: decrypting password-protected Office files (ECMA-376 agile/standard in an OLE container,
 * and the legacy RC4 schemes officecrypto-tool knows). Runs only inside the isolated archive child:
 * the decryptor parses untrusted OLE structures.
 */
import officeCrypto from 'officecrypto-tool';
import { ArchiveStop } from './budget.js';

export { EXCEL_DEFAULT_PASSWORD } from './protocol.js';

export async function decryptOffice(untrusted: Buffer, password: string): Promise<Buffer> {
  let encrypted: boolean;
  try {
    encrypted = officeCrypto.isEncrypted(untrusted);
  } catch {
    // isEncrypted only knows OOXML-in-OLE and xls; the classifier saw EncryptionInfo, so try anyway.
    encrypted = true;
  }
  if (!encrypted) throw new ArchiveStop('CORRUPT', 'not an encrypted Office file');
  try {
    return Buffer.from(await officeCrypto.decrypt(untrusted, { password }));
  } catch (e) {
    const msg = (e as Error).message ?? '';
    if (/password/i.test(msg)) throw new ArchiveStop('WRONG_PASSWORD', 'wrong password');
    throw new ArchiveStop('CORRUPT', `decrypt: ${msg.slice(0, 200)}`);
  }
}
