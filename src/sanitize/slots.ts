import os from 'node:os';

/** A counting semaphore: at most `limit` holders at once, the rest wait in arrival order. */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly limit: number) {
    this.#free = limit;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/**
 * A sanitize worker runs several jobs at once (`queue.sanitizeConcurrency`) because most are cheap text
 * mails; the expensive, memory-hungry work is bounded per process here, whatever that setting:
 * - renderer children (and the pixels read from them): one per core;
 * - top-level archives, whose expanded entries are held in memory while they are sanitized: one at a time.
 * Nested archives do not take the archive slot again (that would wait on itself).
 * Module-level on purpose (docs/DESIGN.md §9): the bound is per process (its cores and memory), so every
 * context in the process must share it; one per context would multiply it.
 */
export const RENDER_SLOTS = new Slots(Math.max(1, os.availableParallelism()));
export const ARCHIVE_SLOTS = new Slots(1);
