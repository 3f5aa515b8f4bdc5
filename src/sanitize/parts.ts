import type { PartInput, PartResult, SanitizeContext } from './types.js';

/**
 * Sanitize one attachment, archive entry or uploaded file by its detected type (BRIEF §6).
 * Never throws: any failure is a held or removed result with a reason code (fail closed).
 */
export async function sanitizePart(input: PartInput, _ctx: SanitizeContext): Promise<PartResult> {
  // Walking skeleton: every attachment is removed and listed; conversion comes with the renderer.
  return { detectedType: input.declaredType || 'application/octet-stream', action: 'removed', reason: 'TYPE_NOT_YET_SUPPORTED' };
}
