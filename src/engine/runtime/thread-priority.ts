/**
 * Inference below the main thread's CPU priority. When the workers fill every core, the main
 * thread (uploads, refusals for load, health checks) waits for a core behind them at each wake-up,
 * and under overload its refusals came late (docs/BENCHMARKS.md, "Tried and kept"). The scheduler still
 * gives the workers every cycle the main thread leaves. On Linux a nice value belongs to a thread,
 * and the threads it starts (onnxruntime's) inherit it; raising it needs no privilege.
 */
import os from 'node:os';

/** Nice steps between the main thread and the inference workers. */
export const WORKER_NICE = 5;

/** Lower the calling thread's CPU priority by `nice` steps; where the system refuses, it stays as it is. */
export function lowerThreadPriority(nice: number): void {
  try {
    // Without a pid: the calling thread, on Linux; the whole process elsewhere. Past the lowest
    // priority (19), Node refuses the value: a service already started at 15 gives its workers 19.
    os.setPriority(Math.min(os.constants.priority.PRIORITY_LOW, os.getPriority() + nice));
  } catch {
    // A sandbox that forbids it: the thread keeps the main thread's priority.
  }
}
