/**
 * Crash accounting for sanitize jobs (docs/RELIABILITY.md, "Work budget"). When a sanitize worker process
 * dies, every job it was running comes back through BullMQ's stalled check, innocent or not. So:
 * - a job's crash count is incremented in Redis when it starts running and deleted when it ends (done or
 *   thrown): a count left behind means the job was running when its process died;
 * - a job that starts with a count of 1 or more (a suspect) runs alone in its process: no other job runs
 *   beside it, so a further crash is counted against it only, never against the innocent ones;
 * - a job whose count has reached `queue.sanitizeMaxCrashes` is taken for the cause: it is not run again,
 *   its original is held (WORKER_CRASHED) and a notice goes out.
 * Jobs waiting for their turn are not counted: the count is incremented only once a job really runs.
 */
import type { Redis } from 'ioredis';

/** Shared for ordinary jobs, exclusive for suspects; a waiting suspect goes before new ordinary jobs. */
export class RunGate {
  #shared = 0;
  #exclusive = false;
  #waitingExclusive = 0;
  readonly #queue: (() => void)[] = [];

  async enter(exclusive: boolean): Promise<() => void> {
    if (exclusive) this.#waitingExclusive++;
    while (!this.#canEnter(exclusive)) await new Promise<void>((r) => this.#queue.push(r));
    if (exclusive) {
      this.#waitingExclusive--;
      this.#exclusive = true;
    } else this.#shared++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      if (exclusive) this.#exclusive = false;
      else this.#shared--;
      this.#wake();
    };
  }

  #canEnter(exclusive: boolean): boolean {
    if (this.#exclusive) return false;
    return exclusive ? this.#shared === 0 : this.#waitingExclusive === 0;
  }

  #wake(): void {
    for (const r of this.#queue.splice(0)) r();
  }
}

export class CrashGuard {
  readonly gate = new RunGate();
  readonly #running = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly maxCrashes: number,
  ) {}

  #key(id: string): string {
    return `${this.prefix}:sanitize:crashes:${id}`;
  }

  /** How many times this job was running when its worker process died. */
  async crashes(id: string): Promise<number> {
    return Number((await this.redis.get(this.#key(id))) ?? 0);
  }

  /**
   * Run `fn` as job `id` once the gate lets it (alone when `suspect`), counted while it runs. The count
   * outlives the process only if the process dies: any end of `fn`, thrown or not, deletes it.
   */
  async run<T>(id: string, suspect: boolean, fn: () => Promise<T>): Promise<T> {
    const leave = await this.gate.enter(suspect);
    try {
      // A day is far longer than any retry schedule; the key only has to survive a restart.
      await this.redis.multi().incr(this.#key(id)).expire(this.#key(id), 86_400).exec();
      this.#running.add(id);
      try {
        return await fn();
      } finally {
        this.#running.delete(id);
        await this.redis.del(this.#key(id));
      }
    } finally {
      leave();
    }
  }

  /** Forget the counts of jobs still running: a deliberate shutdown that cuts them short is not a crash. */
  async forgetRunning(): Promise<void> {
    const ids = [...this.#running];
    if (ids.length > 0) await this.redis.del(...ids.map((id) => this.#key(id)));
  }

  /** Delete the count of a job that will not run again. */
  async clear(id: string): Promise<void> {
    await this.redis.del(this.#key(id));
  }
}
