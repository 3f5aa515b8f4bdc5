import { EVT, type Logger } from '../log.js';

/**
 * The life of one role process (start, ready, signal, stop), shared by every role without importing any of
 * them: the web role loads this and its own modules only (docs/DESIGN.md, "Roles own their use cases").
 */
export type Stop = () => Promise<void>;

/** A listen failure as an error that says which listener, where, and why (EADDRINUSE, EACCES, …). */
export function cannotListen(what: string, host: string, port: number, err: unknown): Error {
  const code = (err as { code?: string } | null)?.code ?? 'ERROR';
  return Object.assign(new Error(`${what} cannot listen on ${host}:${port}: ${code} (${(err as Error)?.message ?? String(err)})`), { code, cause: err });
}

/**
 * Tells `mukaika start` (over the IPC channel it opened) that this role is listening or running; the
 * supervisor logs "mukaika started" only once every role has said so. The channel is closed afterwards so
 * that it does not keep a stopping role alive.
 */
export function announceReady(): void {
  if (!process.send) return;
  process.send({ type: 'ready' }, () => {
    if (process.connected) process.disconnect();
  });
}

export function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** A role whose start failed: logged (MK005), its services closed; the caller exits with the status returned. */
export async function roleFailed(log: Logger, services: { close(): Promise<void> } | undefined, err: unknown): Promise<number> {
  log.error({ evt: EVT.ROLE_FAILED, code: (err as { code?: string } | null)?.code, err: (err as Error)?.message ?? String(err) }, 'role could not start');
  if (services) await services.close().catch(() => undefined);
  // The process exits next: the line must be written first (pino writes asynchronously; a clean-clone run
  // once saw the exit code without the MK005 line).
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return 1;
}

/** Opens the role's services, starts it, reports ready, and stops it on SIGTERM/SIGINT. */
export async function runRoleProcess<C extends { close(): Promise<void> }>(log: Logger, open: () => Promise<C>, start: (ctx: C) => Promise<Stop>): Promise<number> {
  let ctx: C | undefined;
  let stop: Stop;
  try {
    ctx = await open();
    stop = await start(ctx);
  } catch (err) {
    const code = await roleFailed(log, ctx, err);
    // A half-started role may hold handles (sockets, timers) that would keep it alive: it must end non-zero
    // so that the supervisor sees it and restarts it. Unref'd: a clean exit does not wait for it.
    setTimeout(() => process.exit(code), 2000).unref();
    return code;
  }
  announceReady();
  const sig = await waitForSignal();
  log.info({ evt: EVT.STOPPING, signal: sig }, 'stopping');
  await stop();
  await ctx.close();
  return 0;
}
