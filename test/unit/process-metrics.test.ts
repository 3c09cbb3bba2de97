import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { collectProcessMetrics, EVENT_LOOP_LAG_RESOLUTION_MS } from '../../src/shared/process-metrics.js';

/** A gauge's single value, after the event-loop gauges have been collected. */
async function value(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const { values } = await metric.get();
  return values[0]!.value;
}

describe('process metrics', () => {
  it('registers CPU, memory, GC and event-loop metrics', async () => {
    const registry = new Registry();
    collectProcessMetrics(registry);
    const text = await registry.metrics();
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(text).to.contain(`# TYPE ${name} `);
    }
  });

  it('samples the event loop at most 20 times a second (each wake-up costs CPU), and a stall shows at its full length', async () => {
    const registry = new Registry();
    collectProcessMetrics(registry);
    // The monitor samples on a timer, measuring from its first sample: a few samples' time before
    // the stall and after it, for it to be recorded.
    await delay(3 * EVENT_LOOP_LAG_RESOLUTION_MS);
    const stallUntil = performance.now() + 150;
    while (performance.now() < stallUntil);
    await delay(5 * EVENT_LOOP_LAG_RESOLUTION_MS);
    // Collecting this gauge sets the others from the monitor (and restarts it).
    await value(registry, 'nodejs_eventloop_lag_seconds');
    // Node reports the time between samples: 0.05 s or a little under at rest (prom-client's own 10 ms read about 0.01).
    expect(await value(registry, 'nodejs_eventloop_lag_min_seconds')).to.be.at.least(0.045);
    expect(await value(registry, 'nodejs_eventloop_lag_max_seconds')).to.be.at.least(0.15);
  });
});
