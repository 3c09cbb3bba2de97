/**
 * A server on loopback as a container's main process serves nobody outside the container: ports
 * published with `-p` (compose's `ports:`) lead to its network interface, not to its loopback, while
 * the image's HEALTHCHECK, which dials 127.0.0.1, still passes. Arguments after the image replace its
 * command and with it `--host 0.0.0.0`, so `docker run -p 8080:8080 ocr-service serve --workers 4`
 * looks healthy and resets every connection; this says why at start. PID 1 is what the image's
 * exec-form ENTRYPOINT makes node; a sidecar in the same pod, which does reach loopback, is named too.
 */
import { isLoopback } from './exposure-warning.js';
import type { Logger } from './logger.js';

/** The warning for a server on `host` in a process whose id is `pid`, or null. */
export function containerLoopbackWarning(host: string, pid: number): string | null {
  if (pid !== 1 || !isLoopback(host)) return null;
  return (
    `listening on ${host} as PID 1, a container's main process: only the container itself (and its pod's sidecars) can connect, ` +
    "and ports published with -p reach none of it; add --host 0.0.0.0 to serve them (the image's default command has it)"
  );
}

/** Logs containerLoopbackWarning at warn level, for this process. */
export function warnIfContainerLoopback(logger: Logger, host: string): void {
  const message = containerLoopbackWarning(host, process.pid);
  if (message) logger.warn({ host }, message);
}
