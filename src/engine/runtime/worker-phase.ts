/**
 * Whether an inference worker may be terminated right now. Worker.terminate() stops JavaScript and
 * WebAssembly at once, but a thread inside onnxruntime's native run() cannot be stopped: the run
 * goes on to its end and then aborts the whole process (node-addon-api throws into a dying
 * environment: "terminate called after throwing an instance of 'Napi::Error'"). So a worker marks
 * its native calls in shared memory, and the pool and the worker agree through compare-and-swap:
 * the pool terminates only a worker it moved from JS to KILLED, and retires one that is NATIVE, which
 * then exits by itself as soon as its run returns.
 */

/** In JavaScript or WebAssembly, or idle: terminate() is safe. */
export const PHASE_JS = 0;
/** Inside a native model call. */
export const PHASE_NATIVE = 1;
/** The pool is terminating it: it must not enter native code. */
export const PHASE_KILLED = 2;
/** The pool gave up on it during a native call: it exits when the call returns. */
export const PHASE_RETIRED = 3;

export type PhaseCell = Int32Array;

export function newPhaseCell(): PhaseCell {
  return new Int32Array(new SharedArrayBuffer(4));
}

/** Pool side: terminate now (true), or retired to exit after its native call (false). */
export function claimForStop(cell: PhaseCell): 'terminate' | 'retired' {
  // The worker moves between JS and NATIVE meanwhile: try both until one holds.
  for (;;) {
    const was = Atomics.compareExchange(cell, 0, PHASE_JS, PHASE_KILLED);
    if (was === PHASE_JS || was === PHASE_KILLED) return 'terminate';
    if (was === PHASE_RETIRED || Atomics.compareExchange(cell, 0, PHASE_NATIVE, PHASE_RETIRED) === PHASE_NATIVE) return 'retired';
  }
}

/** This thread's native calls in progress: they may overlap (a session made while a model runs). */
let nativeCalls = 0;

/** Ends this worker thread, whose replacement runs. */
const exitThread = (): void => process.exit(0);

/**
 * Worker side: run `call` marked as native; throws instead if the pool has claimed the worker.
 * `retired` runs when the pool retired the thread during the call, once it has returned.
 */
export async function asNative<T>(cell: PhaseCell | undefined, call: () => Promise<T>, retired = exitThread): Promise<T> {
  if (!cell) return call();
  if (nativeCalls === 0 && Atomics.compareExchange(cell, 0, PHASE_JS, PHASE_NATIVE) !== PHASE_JS)
    throw new Error('inference worker is being stopped');
  nativeCalls++;
  try {
    return await call();
  } finally {
    // The last one out marks the thread JS again. One retired meanwhile ends now: retired while it
    // loaded or warmed up, no task would come for its loop to see it, and it lived on, unref'd,
    // until the process ended (WorkerPool.exited waited on it for good).
    if (--nativeCalls === 0 && Atomics.compareExchange(cell, 0, PHASE_NATIVE, PHASE_JS) === PHASE_RETIRED) retired();
  }
}
