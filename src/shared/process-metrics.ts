/**
 * prom-client's default process metrics (CPU, memory, handles, GC, event loop lag) for a registry.
 * Its event-loop-lag monitor wakes the loop every 10 ms by default: about 8 ms of CPU a second in
 * an idle process, a fifth of a gateway's CPU at four documents a second (docs/BENCHMARKS.md,
 * "Tried and kept"). Every 50 ms costs under 2 ms a second, and a stall of 50 ms or more, half the
 * time a refusal for load may take, still delays a sample. Node's monitor reports the whole time
 * between samples, so the lag gauges read about 0.05 s at rest (README, "/metrics").
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';

export const EVENT_LOOP_LAG_RESOLUTION_MS = 50;

export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_LAG_RESOLUTION_MS });
}
