/**
 * The client's listeners on an AbortSignal, registered on it as one, however many calls wait on it.
 * A signal that many calls share (a service's shutdown signal, the client's own close()) would
 * otherwise carry one listener per call in flight, and past 10 Node prints "MaxListenersExceededWarning:
 * Possible EventTarget memory leak detected" about the caller's signal, though each is removed when
 * its call ends. The caller's signal is left as it is (no setMaxListeners on it): its own listeners
 * are still counted.
 */

interface Fanout {
  listeners: Set<() => void>;
  /** The one listener on the signal: calls every registered one, once. */
  handler: () => void;
}

const fanouts = new WeakMap<AbortSignal, Fanout>();

/**
 * Calls `listener` once when `signal` aborts, as addEventListener('abort', listener, { once: true })
 * does (not at once for a signal already aborted); returns what removes it.
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  let fanout = fanouts.get(signal);
  if (!fanout) {
    const listeners = new Set<() => void>();
    const handler = (): void => {
      fanouts.delete(signal);
      for (const each of [...listeners]) each();
    };
    fanout = { listeners, handler };
    fanouts.set(signal, fanout);
    signal.addEventListener('abort', handler, { once: true });
  }
  const { listeners, handler } = fanout;
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size > 0 || fanouts.get(signal)?.listeners !== listeners) return;
    fanouts.delete(signal);
    signal.removeEventListener('abort', handler);
  };
}

/** Waits `ms`, or less if any of `signals` aborts first. */
export function abortableDelay(ms: number, signals: ReadonlyArray<AbortSignal | undefined>): Promise<void> {
  // A signal that aborted while the last attempt was in flight fires no further event.
  if (signals.some((signal) => signal?.aborted)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    const stopListening = signals.flatMap((signal) => (signal ? [onAbort(signal, done)] : []));
    function done(): void {
      clearTimeout(timer);
      for (const stop of stopListening) stop();
      resolve();
    }
  });
}
