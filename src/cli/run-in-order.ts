/** Bounded concurrency whose results still come out in input order, each as early as it can. */

/**
 * Runs `run` over the jobs with at most `concurrency` in flight and hands each result to `emit` in
 * job order, as soon as it and every earlier result are in: output follows the arguments without
 * waiting for the whole run. `run` should not reject; if it does, the returned promise rejects.
 */
export async function runInOrder<J, R>(
  jobs: readonly J[],
  concurrency: number,
  run: (job: J, index: number) => Promise<R>,
  emit: (result: R, index: number) => void,
): Promise<void> {
  const finished = new Map<number, R>();
  let started = 0;
  let emitted = 0;
  const flush = (): void => {
    while (finished.has(emitted)) {
      const result = finished.get(emitted) as R;
      finished.delete(emitted);
      emit(result, emitted++);
    }
  };
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, async () => {
    while (started < jobs.length) {
      const index = started++;
      finished.set(index, await run(jobs[index]!, index));
      flush();
    }
  });
  await Promise.all(lanes);
}
