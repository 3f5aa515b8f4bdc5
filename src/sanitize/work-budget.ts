/**
 * The work budget of one mail (docs/RELIABILITY.md, "Work budget"): wall time spent on it, its parts and
 * every archive entry in them, up to `sanitize.limits.mailWallSeconds`, and the CPU time of the isolated
 * children that worked for it, up to `sanitize.limits.mailCpuSeconds`. Time spent waiting for a renderer or
 * archive slot that another mail holds does not count, so a heavy mail cannot use up the budget of the
 * innocent ones queued behind it. Children's CPU is read from their own cgroup (isolation/cgroup.ts), so it
 * is this mail's alone; the worker's own JS work for the mail shares the process with other jobs and is
 * bounded by the wall clock and by the linear, capped text passes instead.
 */
import type { Slots } from './slots.js';

/** What the helpers below need of a SanitizeContext (types.ts refers to this file, so not that type). */
interface BudgetHolder {
  budget?: WorkBudget;
  signal?: AbortSignal;
}

export class WorkBudget {
  #cpuMs = 0;
  #spentMs = 0;
  #since: number | undefined;
  #paused = 0;

  constructor(
    readonly limitMs: number,
    private readonly now: () => number = () => performance.now(),
    /** CPU time of this mail's isolated children, in ms; Infinity when not limited. */
    readonly cpuLimitMs: number = Infinity,
  ) {
    this.#since = now();
  }

  spentMs(): number {
    return this.#spentMs + (this.#since === undefined ? 0 : this.now() - this.#since);
  }

  remainingMs(): number {
    return Math.max(0, this.limitMs - this.spentMs());
  }

  exhausted(): boolean {
    return this.remainingMs() <= 0 || this.#cpuMs >= this.cpuLimitMs;
  }

  /** Charge CPU time a child used for this mail (read from its cgroup when it ended). */
  chargeCpu(ms: number | undefined): void {
    if (ms !== undefined && Number.isFinite(ms) && ms > 0) this.#cpuMs += ms;
  }

  cpuSpentMs(): number {
    return this.#cpuMs;
  }

  /** Stop the clock (nested: it runs again once every pause has been resumed). */
  pause(): void {
    if (this.#paused++ === 0 && this.#since !== undefined) {
      this.#spentMs += this.now() - this.#since;
      this.#since = undefined;
    }
  }

  resume(): void {
    if (this.#paused > 0 && --this.#paused === 0) this.#since = this.now();
  }

  /** Run `fn` in a slot of `slots`; the wait for the slot is not counted. */
  async inSlot<T>(slots: Pick<Slots, 'run'>, fn: () => Promise<T>): Promise<T> {
    this.pause();
    let waiting = true;
    try {
      return await slots.run(() => {
        waiting = false;
        this.resume();
        return fn();
      });
    } finally {
      if (waiting) this.resume();
    }
  }
}

/** `slots.run(fn)`, with the wait not counted against the mail's budget when there is one. */
export function inSlot<T>(ctx: BudgetHolder, slots: Pick<Slots, 'run'>, fn: () => Promise<T>): Promise<T> {
  return ctx.budget ? ctx.budget.inSlot(slots, fn) : slots.run(fn);
}

/** A child's own timeout, cut to what is left of the mail's budget (at least 1 ms). */
export function budgetTimeout(ctx: BudgetHolder, ownMs: number): number {
  return ctx.budget ? Math.max(1, Math.min(ownMs, Math.ceil(ctx.budget.remainingMs()))) : ownMs;
}

/**
 * The signal to hand a child started now: aborts on the context's own signal and when the mail's budget runs
 * out. Used where the child's timeout is fixed when it is spawned (warm spares are keyed by it).
 */
export function budgetSignal(ctx: BudgetHolder): AbortSignal | undefined {
  if (!ctx.budget) return ctx.signal;
  const t = AbortSignal.timeout(budgetTimeout(ctx, 2 ** 31 - 1));
  return ctx.signal ? AbortSignal.any([ctx.signal, t]) : t;
}
