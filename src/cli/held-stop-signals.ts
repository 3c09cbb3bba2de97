/**
 * Stop signals that reach `ocr serve` or `ocr gateway` while its modules still load, before the
 * command takes them itself (onStopSignals). In a container, node is PID 1, and the kernel drops
 * a signal that PID 1 has no handler for: a `docker stop` in the first second of a container's life
 * went unheard until the SIGKILL ten seconds later. bin/ocr.js holds them from its first line.
 */
import type { StopSignal } from './stop-signals.js';

const held: StopSignal[] = [];
const hold = (signal: StopSignal): void => {
  held.push(signal);
};

/** Keeps SIGTERM and SIGINT from here on, to be handed over by releaseStopSignals. */
export function holdStopSignals(): void {
  process.on('SIGTERM', hold);
  process.on('SIGINT', hold);
}

/** Stops holding; returns the signals held so far, in the order they came. */
export function releaseStopSignals(): StopSignal[] {
  process.off('SIGTERM', hold);
  process.off('SIGINT', hold);
  return held.splice(0);
}
