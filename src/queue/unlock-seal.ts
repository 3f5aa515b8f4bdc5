import {
  createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes,
  createCipheriv, createDecipheriv, type KeyObject,
} from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { MukaikaError } from '../errors.js';

/**
 * A PPAP password on its way from the role that took it (gateway API, later the LGWAN web page) to the
 * sanitize worker that tries it (docs/DESIGN.md, "Unlock through the worker"): sealed to the workers'
 * X25519 key with an ephemeral key (ECDH → HKDF-SHA256 → AES-256-GCM), bound to the one part and a deadline,
 * so the queue holds only ciphertext that no other part and no later time can use.
 */
export interface SealedPassword {
  /** Which worker key it is sealed to (sha256 of the public key, 16 hex digits). */
  kid: string;
  /** Ephemeral public key, SPKI DER, base64. */
  epk: string;
  iv: string;
  ct: string;
  tag: string;
}

export const UNLOCK_KEY_FILE = 'unlock-key.pem';

/** Associated data: the sealed password opens only for this part of this record, before `notAfter`. */
function aad(id: string, part: number, notAfter: number): Buffer {
  return Buffer.from(`mukaika-unlock\n${id}\n${part}\n${notAfter}`, 'utf8');
}

export function keyIdOf(publicKeyPem: string): string {
  return createHash('sha256').update(publicKeyPem.trim(), 'utf8').digest('hex').slice(0, 16);
}

function aesKey(shared: Buffer, epk: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, epk, 'mukaika-unlock-v1', 32));
}

export function sealPassword(publicKeyPem: string, password: string, id: string, part: number, notAfter: number): SealedPassword {
  const recipient = createPublicKey(publicKeyPem);
  const eph = generateKeyPairSync('x25519');
  const epk = eph.publicKey.export({ type: 'spki', format: 'der' });
  const key = aesKey(diffieHellman({ privateKey: eph.privateKey, publicKey: recipient }), epk);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(id, part, notAfter));
  const ct = Buffer.concat([cipher.update(password, 'utf8'), cipher.final()]);
  return { kid: keyIdOf(publicKeyPem), epk: epk.toString('base64'), iv: iv.toString('base64'), ct: ct.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/** The password, or an error when the seal was not made for this key, part and deadline (or was altered). */
export function openPassword(key: UnlockKey, sealed: SealedPassword, id: string, part: number, notAfter: number): string {
  if (sealed.kid !== key.kid) throw new MukaikaError('INTERNAL', `unlock sealed to key ${sealed.kid}, this worker holds ${key.kid} (docs/DESIGN.md, "Unlock through the worker")`);
  const epk = Buffer.from(sealed.epk, 'base64');
  const shared = diffieHellman({ privateKey: key.privateKey, publicKey: createPublicKey({ key: epk, format: 'der', type: 'spki' }) });
  const decipher = createDecipheriv('aes-256-gcm', aesKey(shared, epk), Buffer.from(sealed.iv, 'base64'));
  decipher.setAAD(aad(id, part, notAfter));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new MukaikaError('BAD_REQUEST', 'sealed unlock password does not open', { cause: err });
  }
}

export interface UnlockKey {
  privateKey: KeyObject;
  publicKeyPem: string;
  kid: string;
}

/**
 * The workers' private key: `<dataDir>/unlock-key.pem` (0600), generated on a worker's first start. Workers on
 * several hosts share one key file (copied like the site secret); only its public half leaves the worker.
 */
export function loadUnlockKey(dataDir: string): UnlockKey {
  const file = path.join(dataDir, UNLOCK_KEY_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    // 'wx': of two workers starting at once on one data dir, one creates and both read that one.
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MukaikaError('CONFIG_INVALID', `${file}: not an unlock key; remove it to generate a new one`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'x25519') throw new MukaikaError('CONFIG_INVALID', `${file}: not an X25519 key`);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
  return { privateKey, publicKeyPem, kid: keyIdOf(publicKeyPem) };
}
