import type { Config } from '../config/schema.js';
import type { PartAction, PartManifest } from '../domain/manifest.js';
import type { ReasonCode } from '../domain/reasons.js';
import type { Logger } from '../log.js';
import type { WorkBudget } from './work-budget.js';

/** One attachment (or archive entry, or uploaded file) to sanitize. Its bytes are untrusted. */
export interface PartInput {
  name: string;
  declaredType: string;
  bytes: Buffer;
  /** 0 for a mail attachment or upload; +1 for each archive level. */
  depth: number;
  /** Only for an unlock request; never logged or stored. */
  password?: string;
}

/** What the sanitizer produced: new bytes made from pixels or decoded text, never the input. */
export interface PartOutput {
  name: string;
  type: string;
  bytes: Buffer;
  pages?: number;
}

export interface PartResult {
  detectedType: string;
  action: PartAction;
  reason: ReasonCode;
  output?: PartOutput;
  /** For archives: one manifest entry per inner file. */
  entries?: PartManifest[];
}

export interface SanitizeContext {
  config: Config;
  log: Logger;
  signal?: AbortSignal;
  /** The mail's work budget (work-budget.ts); set by the pipeline, shared by all its parts and entries. */
  budget?: WorkBudget;
}
