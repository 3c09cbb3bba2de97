/**
 * Identical calls in flight at once, computed once (single-flight): the first (the leader) does the
 * work, and those with the same key that come before it ends wait for its outcome instead of doing
 * it again. Without it, one scan sent 20 times at once (a client's retries, a fan-out) was read 20
 * times, every copy a miss, since none was stored yet.
 *
 * Each waiter keeps its own cancellation and deadline: its signal ends its wait, never the leader's
 * work. The leader's failure is its own call's (its caller left, its deadline or priority refused):
 * a waiter whose leader failed tries once more (leading, or waiting on a new leader), and again
 * whenever its leader failed because that leader's caller left, so that no caller's departure fails
 * another. An entry lives as long as its leader's work: at most one per call in flight.
 */

interface Flight<T> {
  outcome: Promise<T>;
  /**
   * Whether the leader's caller had left when its work settled: read then, since a call's signal
   * also aborts once the call has ended (CallRecord.end), which is no caller leaving.
   */
  leaderLeft: boolean;
}

/** `work`, rejected with `signal`'s reason as soon as `signal` aborts; `work` itself goes on. */
function whileLive<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const left = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', left, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', left));
  });
}

export class SharedFlights<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /**
   * `work`'s outcome for the call whose `signal` is given, `shared` when another call's work gave
   * it. `work` runs only where no call with `key` is in flight.
   */
  async run(key: string, signal: AbortSignal, work: () => Promise<T>): Promise<{ value: T; shared: boolean }> {
    for (let retried = false; ; retried = true) {
      const flight = this.flights.get(key);
      if (!flight) return { value: await this.lead(key, signal, work), shared: false };
      try {
        return { value: await whileLive(flight.outcome, signal), shared: true };
      } catch (err) {
        if (signal.aborted || (retried && !flight.leaderLeft)) throw err;
      }
    }
  }

  private lead(key: string, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    const flight: Flight<T> = { outcome: Promise.resolve().then(work), leaderLeft: false };
    this.flights.set(key, flight);
    // Registered before any waiter's: by the time a waiter sees the outcome, and retries, the entry
    // is gone and leaderLeft set.
    const land = (): void => {
      flight.leaderLeft = signal.aborted;
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    flight.outcome.then(land, land);
    return flight.outcome;
  }
}
