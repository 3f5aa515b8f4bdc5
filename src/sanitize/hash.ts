import { createHash } from 'node:crypto';

/** Hex sha256: content addresses in the stores and the hashes shown in manifests. */
export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
