/**
 * Originals (Internet side, untrusted) and sanitized outputs live in separate areas, as files (blobs.ts) or
 * kept with their records (inline-blobs.ts). The LGWAN-side web role gets a `SanitizedArea`
 * (sanitized-area.ts), a class of its own with no code path into the originals area.
 */
export type BlobArea = 'originals' | 'sanitized';
