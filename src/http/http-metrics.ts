import { Counter, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../server/metrics.js';

/** Requests of the HTTP front door, beside the gRPC ones in the same registry. */
export class HttpMetrics {
  readonly requests: Counter<'route' | 'status'>;
  readonly latency: Histogram<'route'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'ocr_http_requests_total',
      help: 'HTTP requests answered, by route and HTTP status (499: the client left before its answer)',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'ocr_http_request_duration_seconds',
      help: 'Seconds from an HTTP request arriving to its answer (any status), by route',
      labelNames: ['route'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }
}
