import { ServerMetrics } from '../../src/server/metrics.js';

/** Server metrics whose gauges read an idle engine: for tests of what counts calls, not load. */
export const idleMetrics = (): ServerMetrics =>
  new ServerMetrics({
    inFlight: () => 0,
    queuedTasks: () => 0,
    memoryUsed: () => 0,
    memoryBudget: () => 0,
    workersLoaded: () => 0,
    workersBusy: () => 0,
    estimatedWaitMs: () => 0,
    workersReplaced: () => 0,
    workersCrashed: () => 0,
    uploadBytesHeld: () => 0,
  });
