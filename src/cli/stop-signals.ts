/**
 * How `ocr serve` and `ocr gateway` take SIGTERM and SIGINT, alike: the first of either drains; a
 * second of either during the drain ends the process at once, as an operator pressing Ctrl-C again
 * or a supervisor done waiting means it to.
 */
import { fstatSync } from 'node:fs';
import os from 'node:os';
import { releaseStopSignals } from './held-stop-signals.js';

export type StopSignal = 'SIGTERM' | 'SIGINT';

/** The exit status a shell gives a process that `signal` ended: 128 + its number (130 for SIGINT, 143 for SIGTERM). */
export function signalExitStatus(signal: StopSignal): number {
  return 128 + os.constants.signals[signal];
}

/** What the log says when a second signal cuts the drain short. */
export const FORCED_EXIT = 'second signal while draining: exiting now, cutting the calls still in flight';

/**
 * Calls `drain` on the first SIGTERM or SIGINT and `force` on every one after it, those the launcher
 * held while the command loaded included (held-stop-signals.ts). Installed at once: without a
 * handler, a signal ends the process outright, with nothing drained or logged.
 */
export function onStopSignals(drain: (signal: StopSignal) => void, force: (signal: StopSignal) => void): void {
  let draining = false;
  const take = (signal: StopSignal): void => {
    if (draining) return force(signal);
    draining = true;
    drain(signal);
  };
  process.on('SIGTERM', take);
  process.on('SIGINT', take);
  for (const signal of releaseStopSignals()) take(signal);
}

/** Set by `ocr cluster` on each instance it starts, whose stdin is a pipe from it (cluster-command.ts). */
export const STOP_WHEN_STDIN_ENDS = 'OCR_STOP_WHEN_STDIN_ENDS';

/**
 * Under `ocr cluster`, the end of stdin means the command is gone without stopping its instances
 * (kill -9, a crash): this one then stops as on SIGTERM, draining, rather than serve on, orphaned,
 * holding its ports. The pipe is read unref'd: read as a live handle, it would keep an instance whose
 * start failed (its port taken) running for as long as the command, which waits for it to exit.
 *
 * Only a pipe (or socket) says that: a file or /dev/null ends at once and a terminal when Ctrl-D is
 * typed, neither because a command went away. Then the variable is ignored, and what to say of that
 * (for the caller's logger, which does not exist yet) is returned.
 */
export function stopWhenStdinEnds(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env[STOP_WHEN_STDIN_ENDS] !== '1') return null;
  if (!stdinIsPipe()) {
    return `${STOP_WHEN_STDIN_ENDS}=1 ignored: stdin is not a pipe (a file, /dev/null or a terminal), whose end would not mean that the command that started this server is gone; stop it with SIGTERM, or unset ${STOP_WHEN_STDIN_ENDS}`;
  }
  process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.resume();
  process.stdin.unref();
  return null;
}

/** Whether fd 0 is a pipe or a socket (as `ocr cluster` gives its instances); false when it is closed. */
function stdinIsPipe(): boolean {
  try {
    const stats = fstatSync(0);
    return stats.isFIFO() || stats.isSocket();
  } catch {
    return false;
  }
}
