import { ServerMetrics, type ServerLoad } from '../../src/server/metrics.js';

/** The load of an idle engine: every gauge and count at 0. */
export const IDLE_LOAD: ServerLoad = {
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
};

/** Server metrics whose gauges read an idle engine: for tests of what counts calls, not load. */
export const idleMetrics = (): ServerMetrics => new ServerMetrics(IDLE_LOAD);
