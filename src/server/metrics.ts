import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one server: latency per method, stage times, outcomes, load. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'ocr_requests_total',
    help: 'Calls answered, by method and gRPC status',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'ocr_request_duration_seconds',
    help: 'Time from a call arriving to its answer, by method',
    labelNames: ['method'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly stage = new Histogram({
    name: 'ocr_stage_duration_seconds',
    help: 'Time spent per pipeline stage',
    labelNames: ['stage'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly lines = new Counter({
    name: 'ocr_lines_total',
    help: 'Text lines returned',
    registers: [this.registry],
  });
  readonly inFlight: Gauge;
  readonly queuedTasks: Gauge;

  constructor(load: { inFlight: () => number; queuedTasks: () => number }) {
    collectDefaultMetrics({ register: this.registry });
    this.inFlight = new Gauge({
      name: 'ocr_requests_in_flight',
      help: 'Requests admitted and not yet answered',
      registers: [this.registry],
      collect() {
        this.set(load.inFlight());
      },
    });
    this.queuedTasks = new Gauge({
      name: 'ocr_queued_model_tasks',
      help: 'Model calls waiting for a free inference worker',
      registers: [this.registry],
      collect() {
        this.set(load.queuedTasks());
      },
    });
  }
}
