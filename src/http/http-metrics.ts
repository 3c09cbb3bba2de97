import { Counter, Histogram, type Registry } from 'prom-client';
import { ERROR_LATENCY_BUCKETS, LATENCY_BUCKETS } from '../server/metrics.js';

/** The first HTTP status that is not an answer to the request asked: a refusal or a failure. */
const FIRST_ERROR_STATUS = 400;

/**
 * Requests of the HTTP front door, beside the gRPC ones in the same registry, timed as gRPC's calls
 * are (src/server/metrics.ts): the answered ones apart from the rest, so that quantiles of the
 * answered read the time to an answer, not a mix with refusals of a few milliseconds.
 */
export class HttpMetrics {
  readonly requests: Counter<'route' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly errorLatency: Histogram<'route' | 'status'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'ocr_http_requests_total',
      help: 'HTTP requests answered, by route and HTTP status (499: the client left before its answer)',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'ocr_http_request_duration_seconds',
      help: 'Seconds from an HTTP request arriving to its answer, of those answered with a status under 400, by route (the others are timed in ocr_http_request_error_duration_seconds; all are counted in ocr_http_requests_total)',
      labelNames: ['route'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.errorLatency = new Histogram({
      name: 'ocr_http_request_error_duration_seconds',
      help: 'Seconds from an HTTP request arriving to its answer with a status of 400 or more (a refusal, its hold for the refusal pace included, or a failure; 499: its client left first), by route and status',
      labelNames: ['route', 'status'] as const,
      buckets: ERROR_LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  /** Counts a request of `route` that ended with `status` after `seconds`, and times it with the answered ones or the rest. */
  ended(route: string, status: number, seconds: number): void {
    this.requests.inc({ route, status: String(status) });
    if (status < FIRST_ERROR_STATUS) this.latency.observe({ route }, seconds);
    else this.errorLatency.observe({ route, status: String(status) }, seconds);
  }
}
